// The new backup codes page: asks before the page is left while the codes
// may not be saved yet. "I have saved them" (form[data-codes-saved]) leaves
// without asking.
(function () {
  'use strict';
  var saved = document.querySelector('form[data-codes-saved]');
  if (!saved) {
    return;
  }
  var leaving = false;
  saved.addEventListener('submit', function () {
    leaving = true;
  });
  window.addEventListener('beforeunload', function (event) {
    if (leaving) {
      return;
    }
    event.preventDefault();
    event.returnValue = ''; // older browsers ask only when this is set
  });
})();
