// Passkeys: the WebAuthn ceremonies of the pages, with the JSON forms of
// WebAuthn Level 3 (PublicKeyCredential.parseCreationOptionsFromJSON,
// parseRequestOptionsFromJSON and credential.toJSON()).
//
// <form data-passkey-register data-options=URL data-sudo=SUDO hidden> adds
// a passkey: the script asks URL for creation options, lets the browser
// make the passkey, puts its answer in the form's "credential" field and
// sends the form. When keyward first wants the person to confirm it is
// them, the script goes to SUDO, which comes back.
// <div data-passkey-signin data-options=URL hidden> holds a form that signs
// in with one: the script asks URL for request options and the ceremony's
// id, lets the browser use a passkey, fills "challenge_id" and "credential"
// and sends the form. With data-conditional, the browser also offers its
// passkeys in the email field's autofill (autocomplete="username webauthn")
// while the page is open.
//
// Both stay hidden where the browser cannot do this; everything else on
// the page works without this script.
(function () {
  'use strict';
  var PKC = window.PublicKeyCredential;
  var supported = !!(PKC && PKC.parseCreationOptionsFromJSON && PKC.parseRequestOptionsFromJSON &&
    navigator.credentials && window.fetch);

  var forms = document.querySelectorAll('form[data-passkey-register]');
  for (var i = 0; i < forms.length; i++) {
    register(forms[i]);
  }
  var blocks = document.querySelectorAll('[data-passkey-signin]');
  for (var j = 0; j < blocks.length; j++) {
    signIn(blocks[j]);
  }

  function register(form) {
    var status = form.querySelector('[data-passkey-status]');
    var note = document.querySelector('[data-passkey-unsupported]');
    if (!supported) {
      if (note) {
        note.textContent = 'This browser cannot make passkeys. Try another browser, or use an authenticator app.';
      }
      return;
    }
    if (note) {
      note.hidden = true;
    }
    form.hidden = false;
    form.addEventListener('submit', function (event) {
      if (form.elements.credential.value) {
        return; // filled: this is the post itself
      }
      event.preventDefault();
      busy(form, true);
      say(status, 'Follow what your browser asks to make the passkey\u2026');
      options(form.getAttribute('data-options')).then(function (body) {
        return navigator.credentials.create({publicKey: PKC.parseCreationOptionsFromJSON(body.options)});
      }).then(function (credential) {
        form.elements.credential.value = JSON.stringify(credential.toJSON());
        say(status, 'Saving the passkey\u2026');
        form.submit();
      }).catch(function (err) {
        var sudo = form.getAttribute('data-sudo');
        if (err && err.code === 'reauthentication_required' && sudo) {
          window.location.assign(sudo);
          return;
        }
        busy(form, false);
        say(status, explain(err, true));
      });
    });
  }

  function signIn(block) {
    if (!supported) {
      return;
    }
    var form = block.querySelector('form');
    var status = block.querySelector('[data-passkey-status]');
    var url = block.getAttribute('data-options');
    var waiting = null; // the autofill request, aborted by a click
    block.hidden = false;

    function ask(mediation) {
      var abort = new AbortController();
      if (mediation === 'conditional') {
        waiting = abort;
      }
      return options(url).then(function (body) {
        form.elements.challenge_id.value = body.challenge_id;
        var request = {publicKey: PKC.parseRequestOptionsFromJSON(body.options), signal: abort.signal};
        if (mediation) {
          request.mediation = mediation;
        }
        return navigator.credentials.get(request);
      }).then(function (credential) {
        if (!credential) {
          return;
        }
        form.elements.credential.value = JSON.stringify(credential.toJSON());
        say(status, 'Signing in\u2026');
        form.submit();
      });
    }

    form.addEventListener('submit', function (event) {
      if (form.elements.credential.value) {
        return;
      }
      event.preventDefault();
      if (waiting) {
        waiting.abort();
        waiting = null;
      }
      busy(form, true);
      say(status, 'Follow what your browser asks to use your passkey\u2026');
      ask(undefined).catch(function (err) {
        busy(form, false);
        say(status, explain(err, false));
      });
    });

    if (block.hasAttribute('data-conditional') && PKC.isConditionalMediationAvailable) {
      PKC.isConditionalMediationAvailable().then(function (available) {
        if (available) {
          ask('conditional').catch(function (err) {
            if (err && err.name !== 'AbortError') {
              say(status, explain(err, false));
            }
          });
        }
      }, function () {});
    }
  }

  // options asks keyward for a ceremony's options; an answer that is not
  // 200 becomes an error carrying keyward's message.
  function options(url) {
    return fetch(url, {
      method: 'POST',
      credentials: 'same-origin',
      headers: {'Content-Type': 'application/json', 'Accept': 'application/json'},
      body: '{}'
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) {
          var err = new Error((body && body.error && body.error.message) || 'Something went wrong. Try again.');
          err.name = 'KeywardError';
          err.code = body && body.error && body.error.code;
          throw err;
        }
        return body;
      }, function () {
        var err = new Error('Something went wrong. Try again.');
        err.name = 'KeywardError';
        throw err;
      });
    });
  }

  function explain(err, making) {
    switch (err && err.name) {
      case 'KeywardError':
        return err.message;
      case 'NotAllowedError':
        return 'The passkey request was closed or timed out. Try again when you are ready.';
      case 'InvalidStateError':
        return making ? 'This device or security key already has a passkey for your account.' : 'That passkey cannot be used here.';
      case 'AbortError':
        return 'Stopped.';
      case 'SecurityError':
        return 'This page\u2019s address is not the one passkeys are made for here.';
    }
    return making ? 'The passkey could not be made. Try again.' : 'The passkey could not be used. Try again.';
  }

  function busy(form, on) {
    var buttons = form.querySelectorAll('button');
    for (var k = 0; k < buttons.length; k++) {
      buttons[k].disabled = on;
    }
  }

  function say(status, text) {
    if (status) {
      status.textContent = text;
    }
  }
})();
