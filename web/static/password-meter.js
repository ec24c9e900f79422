// Password strength meter: progressive enhancement for
// <p class="strength" data-strength-for="INPUT-ID" hidden> (layout.html's
// "meter"). It asks the server for advice (POST data-strength-url, which is
// /api/v1/password/strength under the base path,
// same-origin cookie auth) a moment after typing stops. The password policy,
// applied when the form is saved, is the authority.
(function () {
  'use strict';
  var words = ['Too weak', 'Weak', 'Fair', 'Good', 'Strong'];
  var delay = 300;

  function attach(box) {
    var input = document.getElementById(box.getAttribute('data-strength-for'));
    // The page gives the API's address: it carries keyward's base path.
    var url = box.getAttribute('data-strength-url');
    if (!input || !url || !window.fetch) {
      return;
    }
    var meter = box.querySelector('meter');
    var word = box.querySelector('.strength-word');
    var email = input.form ? input.form.querySelector('input[type="email"]') : null;
    var timer = 0;
    var seq = 0;

    function show(score) {
      box.hidden = false;
      meter.value = score;
      word.textContent = words[score] || '';
      box.setAttribute('data-score', String(score));
    }

    function check() {
      var pw = input.value;
      var mine = ++seq;
      if (pw === '') {
        box.hidden = true;
        word.textContent = '';
        return;
      }
      var body = { password: pw };
      if (email && email.value) {
        body.email = email.value;
      }
      fetch(url, {
        method: 'POST',
        credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify(body)
      }).then(function (res) {
        return res.ok ? res.json() : null;
      }).then(function (data) {
        if (mine !== seq || !data || typeof data.score !== 'number') {
          return;
        }
        show(Math.max(0, Math.min(4, data.score)));
      }).catch(function () {
        // Advice only: without an answer the meter stays as it was.
      });
    }

    input.addEventListener('input', function () {
      clearTimeout(timer);
      timer = setTimeout(check, delay);
    });
  }

  var boxes = document.querySelectorAll('[data-strength-for]');
  for (var i = 0; i < boxes.length; i++) {
    attach(boxes[i]);
  }
})();
