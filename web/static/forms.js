// decide console: a form is sent once. Its submit buttons are disabled while the page waits
// for the answer (a double click or a second Enter would register a decision twice), and
// enabled again if the browser shows the page once more from its history.
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (form.dataset.sent === "1") { event.preventDefault(); return; }
  form.dataset.sent = "1";
  setTimeout(() => form.querySelectorAll("button[type=submit]").forEach((b) => {
    b.disabled = true;
    b.setAttribute("aria-busy", "true");
  }), 0);
});
window.addEventListener("pageshow", () => document.querySelectorAll("form").forEach((form) => {
  delete form.dataset.sent;
  form.querySelectorAll("button[aria-busy]").forEach((b) => { b.disabled = false; b.removeAttribute("aria-busy"); });
}));
