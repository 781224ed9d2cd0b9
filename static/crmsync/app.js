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
