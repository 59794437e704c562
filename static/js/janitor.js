// Small enhancements; every page works without them for plain navigation.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  navigator.clipboard?.writeText(button.dataset.copy);
  button.dataset.label ??= button.textContent;
  const label = button.dataset.label;
  button.textContent = "copied";
  setTimeout(() => { button.textContent = label; }, 1200);
});

// The tag drawer (#drawer): it closes with its button or Escape, and focus goes back to
// the link that opened it (or, when the list was redrawn meanwhile, the same link anew).
let drawerOpener = null;

document.addEventListener("htmx:beforeRequest", (event) => {
  const target = event.detail.target;
  if (target?.id === "drawer" && !target.contains(event.detail.elt)) {
    drawerOpener = event.detail.elt;
  }
});

function closeDrawer() {
  const drawer = document.getElementById("drawer");
  if (!drawer || !drawer.hasChildNodes()) return;
  drawer.replaceChildren();
  let opener = drawerOpener;
  if (opener && !opener.isConnected) {
    const href = opener.getAttribute("href");
    opener = href ? document.querySelector(`a[href="${CSS.escape(href)}"]`) : null;
  }
  opener?.focus();
}

document.addEventListener("click", (event) => {
  if (event.target.closest("[data-close-drawer]")) closeDrawer();
});

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && document.querySelector("#drawer > *")) closeDrawer();
});

// A filter form that HTMX does not redraw marks the fields the server found wrong.
document.addEventListener("htmx:afterSettle", (event) => {
  if (event.target.id !== "tag-results") return;
  for (const field of document.querySelectorAll("#tag-filters [aria-describedby]")) {
    const error = document.getElementById(field.getAttribute("aria-describedby"));
    if (error) field.setAttribute("aria-invalid", "true");
    else field.removeAttribute("aria-invalid");
  }
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
