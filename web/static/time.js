// Times: every <time datetime data-local="datetime|date"> is sent in UTC
// and shown here in the reader's own time zone, in the page's language.
// Without scripts the UTC text stays, and says it is UTC.
(function () {
  'use strict';
  var lang = document.documentElement.lang || undefined;
  var formats = {
    datetime: { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZoneName: 'short' },
    date: { day: 'numeric', month: 'long', year: 'numeric' }
  };
  var times = document.querySelectorAll('time[datetime][data-local]');
  for (var i = 0; i < times.length; i++) {
    var t = times[i];
    var format = formats[t.getAttribute('data-local')];
    var when = new Date(t.getAttribute('datetime'));
    if (!format || isNaN(when.getTime())) {
      continue;
    }
    try {
      t.textContent = when.toLocaleString(lang, format);
    } catch (e) {
      // An engine without these options keeps the UTC text.
    }
  }
})();
