// Small enhancements; every page works without them for plain navigation.
document.addEventListener("click", (event) => {
  const button = event.target.closest("[data-copy]");
  if (!button) return;
  navigator.clipboard?.writeText(button.dataset.copy);
  button.textContent = "copied";
  setTimeout(() => { button.textContent = "copy"; }, 1200);
});
