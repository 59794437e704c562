// Small enhancements; every page works without them for plain navigation.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  navigator.clipboard?.writeText(button.dataset.copy);
  button.textContent = "copied";
  setTimeout(() => { button.textContent = "copy"; }, 1200);
});

// The navigation is a <details>, folded behind "Menu" on a phone. On wider screens the
// stylesheet shows it open; browsers without ::details-content need it opened here.
const wideScreen = window.matchMedia("(min-width: 761px)");
const openMenuOnWideScreens = () => {
  if (!wideScreen.matches) return;
  for (const menu of document.querySelectorAll("details.menu")) menu.open = true;
};
openMenuOnWideScreens();
wideScreen.addEventListener("change", openMenuOnWideScreens);
