// Copy buttons: <button data-copy="ID" data-copy-status="STATUS-ID" hidden>
// copies the text of #ID without its grouping spaces; with data-copy-lines,
// one line per item of the list #ID instead. data-copy-done is what the
// status says once copied. The button stays hidden where the clipboard
// cannot be used; the text can always be selected by hand.
(function () {
  'use strict';
  if (!navigator.clipboard || !navigator.clipboard.writeText) {
    return;
  }
  var buttons = document.querySelectorAll('button[data-copy]');
  for (var i = 0; i < buttons.length; i++) {
    attach(buttons[i]);
  }

  function attach(button) {
    var target = document.getElementById(button.getAttribute('data-copy'));
    var status = document.getElementById(button.getAttribute('data-copy-status'));
    if (!target) {
      return;
    }
    var label = button.textContent;
    var done = button.getAttribute('data-copy-done') || 'Key copied to the clipboard.';
    var lines = button.hasAttribute('data-copy-lines');
    var timer = 0;
    button.hidden = false;
    button.addEventListener('click', function () {
      var text = lines ? Array.prototype.map.call(target.querySelectorAll('li'), function (li) {
        return li.textContent.trim();
      }).join('\n') + '\n' : target.textContent.replace(/\s+/g, '');
      navigator.clipboard.writeText(text).then(function () {
        say('Copied', done);
      }, function () {
        say(label, 'Could not copy. Select the text and copy it by hand.');
      });
    });

    function say(buttonText, message) {
      button.textContent = buttonText;
      if (status) {
        status.textContent = message;
      }
      clearTimeout(timer);
      timer = setTimeout(function () {
        button.textContent = label;
        if (status) {
          status.textContent = '';
        }
      }, 4000);
    }
  }
})();
