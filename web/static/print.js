// Print buttons: <button data-print hidden> opens the print dialog; the
// print stylesheet shows only the backup codes.
(function () {
  'use strict';
  if (typeof window.print !== 'function') {
    return;
  }
  var buttons = document.querySelectorAll('button[data-print]');
  for (var i = 0; i < buttons.length; i++) {
    buttons[i].hidden = false;
    buttons[i].addEventListener('click', function () {
      window.print();
    });
  }
})();
