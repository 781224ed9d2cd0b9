// Forms marked data-once submit once: a double click does not post twice (the server is
// idempotent too). htmx forms use hx-disabled-elt instead.
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (!form.hasAttribute("data-once")) return;
  if (form.dataset.submitted === "1") { event.preventDefault(); return; }
  form.dataset.submitted = "1";
  setTimeout(function () {
    form.querySelectorAll("button[type=submit]").forEach(function (b) { b.disabled = true; });
  }, 0);
});

// Forms marked data-confirm="question" ask first (an inline onsubmit would need 'unsafe-inline'
// under the Content-Security-Policy). Capturing, so a cancelled submit is not marked data-once.
document.addEventListener("submit", function (event) {
  var question = event.target.getAttribute("data-confirm");
  if (question && !window.confirm(question)) {
    event.preventDefault();
    event.stopImmediatePropagation();
  }
}, true);

// Loaded without defer, before the body: the "js" class is on <html> before the first paint,
// so on a narrow screen the navigation is folded from the start (CSS folds it only under "js":
// without JavaScript the links stay shown). Everything below listens on the document.
document.documentElement.classList.add("js");

// The Menu button of narrow screens opens and closes the navigation (aria-expanded, which the
// CSS follows); Escape closes it and gives the focus back to the button.
function setMenu(button, open) {
  button.setAttribute("aria-expanded", open ? "true" : "false");
}
document.addEventListener("click", function (event) {
  var button = event.target.closest(".menu-button");
  if (button) setMenu(button, button.getAttribute("aria-expanded") !== "true");
});
document.addEventListener("keydown", function (event) {
  if (event.key !== "Escape") return;
  var button = document.querySelector(".menu-button[aria-expanded=true]");
  if (!button) return;
  setMenu(button, false);
  button.focus();
});

// A select-all box (data-select-all="ids") ticks or clears every enabled box of that name in
// its table, and shows whether all, some (indeterminate) or none are ticked. htmx swaps rows
// (Resync in place) and pages, so it is brought up to date after every swap.
function boxesOf(all) {
  var table = all.closest("table");
  if (!table) return [];
  return Array.prototype.filter.call(table.querySelectorAll("tbody input[type=checkbox]"), function (b) {
    return b.name === all.getAttribute("data-select-all") && !b.disabled;
  });
}
function followBoxes(all) {
  var boxes = boxesOf(all);
  var ticked = boxes.filter(function (b) { return b.checked; }).length;
  all.disabled = boxes.length === 0;
  all.checked = boxes.length > 0 && ticked === boxes.length;
  all.indeterminate = ticked > 0 && ticked < boxes.length;
}
function followAll() {
  document.querySelectorAll("input[data-select-all]").forEach(followBoxes);
}
document.addEventListener("change", function (event) {
  var box = event.target;
  if (box.matches("input[data-select-all]")) {
    boxesOf(box).forEach(function (b) { b.checked = box.checked; });
    followBoxes(box);
  } else if (box.matches("input[type=checkbox]")) {
    followAll();
  }
});
document.addEventListener("DOMContentLoaded", followAll);
document.addEventListener("htmx:afterSettle", followAll);
