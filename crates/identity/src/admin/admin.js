// The admin center's one script, a progressive enhancement: every page works without it. On the new-group
// form, a membership rule is checked as it is typed (after a pause), and what the server says of it — the
// parse error, or how many users match now — is announced beside the field.
(function () {
  var field = document.getElementById("membershipRule");
  var said = document.getElementById("rule-live");
  if (!field || !said || !window.fetch) {
    return;
  }
  var check = field.getAttribute("data-check");
  var timer = null;
  var asked = 0;
  field.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () {
      var rule = field.value.trim();
      var mine = ++asked;
      if (!rule) {
        said.textContent = "";
        return;
      }
      fetch(check + "?rule=" + encodeURIComponent(rule), { credentials: "same-origin" })
        .then(function (answer) { return answer.json(); })
        .then(function (checked) {
          if (mine !== asked) {
            return;
          }
          said.textContent = checked.message;
          said.className = checked.valid ? "rule-ok" : "field-error";
          field.setAttribute("aria-invalid", checked.valid ? "false" : "true");
        })
        .catch(function () { said.textContent = ""; });
    }, 400);
  });
})();
