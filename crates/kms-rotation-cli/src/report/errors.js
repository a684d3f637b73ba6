"use strict";
// Errors are recorded on the body for the browser test (tests/e2e/test_report.py), and shown.
window.reportErrors = [];
function recordError(text) {
  window.reportErrors.push(text);
  if (document.body) {
    document.body.dataset.errors = window.reportErrors.join("\n");
  }
}
window.onerror = function (message, source, line, column) {
  recordError(String(message) + " (line " + line + ", column " + column + ")");
};
document.addEventListener("securitypolicyviolation", function (e) {
  recordError("blocked by the page's policy: " + e.violatedDirective + " " + e.blockedURI);
});
