// Slipway dashboard: live updates on top of pages that work without this script.
// - [data-live]: follows the app's events; on each re-reads this page and swaps every
//   [data-swap] element (by id) not holding focus. With [data-poll] (the overview: process
//   states, uptimes and metrics change without an event) also every 5 s while the tab is visible.
// - #log[data-follow]: follows the app's logs (Server-Sent Events) and appends each line.
(function () {
  'use strict';

  function swapFrom(html) {
    var doc = new DOMParser().parseFromString(html, 'text/html');
    // The page's layout changed (the first release, a new process type): show the new one whole.
    var shape = document.querySelector('[data-shape]');
    var nextShape = doc.querySelector('[data-shape]');
    if (shape && nextShape && shape.getAttribute('data-shape') !== nextShape.getAttribute('data-shape') && !document.activeElement.closest('form')) {
      location.reload();
      return;
    }
    document.querySelectorAll('[data-swap][id]').forEach(function (el) {
      var next = doc.getElementById(el.id);
      if (!next || el.contains(document.activeElement)) return;
      if (el.innerHTML !== next.innerHTML) {
        el.innerHTML = next.innerHTML;
        el.className = next.className;
      }
    });
  }

  var refreshing = false;
  var again = false;
  function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(location.href, { credentials: 'same-origin', headers: { accept: 'text/html' } })
      .then(function (r) { return r.ok && !r.redirected ? r.text() : null; })
      .then(function (html) { if (html) swapFrom(html); })
      .catch(function () {})
      .finally(function () {
        refreshing = false;
        if (again) { again = false; setTimeout(refresh, 250); }
      });
  }

  var live = document.querySelector('[data-live]');
  if (live && window.EventSource) {
    var timer = null;
    var events = new EventSource(live.getAttribute('data-live'));
    events.onmessage = function () {
      clearTimeout(timer);
      timer = setTimeout(refresh, 300);
    };
    if (live.hasAttribute('data-poll')) setInterval(function () { if (!document.hidden) refresh(); }, 5000);
    window.addEventListener('pagehide', function () { events.close(); });
  }

  var log = document.getElementById('log');
  if (log && log.getAttribute('data-follow') && window.EventSource) {
    var view = document.getElementById('log-view');
    var empty = document.getElementById('log-empty');
    var state = document.getElementById('live-state');
    var MAX = 2000;
    var setState = function (text, on) {
      state.textContent = text;
      state.classList.toggle('live', on);
    };
    var stream = new EventSource(log.getAttribute('data-follow'));
    stream.onopen = function () { setState('Following live', true); };
    // An error answer (not a dropped connection) closes the stream for good.
    stream.onerror = function () { setState(stream.readyState === EventSource.CLOSED ? 'Not following: reload to try again.' : 'Reconnecting…', false); };
    stream.onmessage = function (m) {
      var l;
      try { l = JSON.parse(m.data); } catch (e) { return; }
      var nearBottom = view.scrollTop + view.clientHeight >= view.scrollHeight - 40;
      var li = document.createElement('li');
      li.className = 'log-line fresh stream-' + (l.stream || 'stdout').replace(/[^a-z]/g, '');
      li.setAttribute('data-kind', l.kind || 'log');
      var time = document.createElement('time');
      time.dateTime = l.at || '';
      time.title = l.at || '';
      time.textContent = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/.test(l.at || '') ? l.at.slice(11, 19) : '';
      var src = document.createElement('span');
      src.className = 'log-src';
      src.textContent = l.source || '';
      var text = document.createElement('span');
      text.className = 'log-text';
      text.textContent = l.text || '';
      li.append(time, ' ', src, ' ', text);
      log.appendChild(li);
      empty.hidden = true;
      while (log.children.length > MAX) log.removeChild(log.firstChild);
      if (nearBottom) view.scrollTop = view.scrollHeight;
    };
    window.addEventListener('pagehide', function () { stream.close(); });
  }
})();
