// The replay of a console recording (asciicast v2): output into xterm.js at the recorded pace, 1×/2×/8×, with a seek
// bar; what was typed listed below the screen. Reading the recording is on record (the server writes the row first).
(function () {
  'use strict';
  var box = document.getElementById('replay');
  var status = document.getElementById('replay-status');
  if (!box) { return; }
  if (!window.Terminal) { status.textContent = 'The terminal could not be loaded.'; return; }
  var playButton = document.getElementById('replay-play');
  var speedSelect = document.getElementById('replay-speed');
  var seek = document.getElementById('replay-seek');
  var clock = document.getElementById('replay-time');
  var typedList = document.getElementById('replay-typed');

  var keyNames = { '\r': '⏎', '\n': '⏎', '\t': '⇥', '\u007f': '⌫', '\u001b': 'Esc',
    '\u001b[A': '↑', '\u001b[B': '↓', '\u001b[C': '→', '\u001b[D': '←', '\u001bOA': '↑', '\u001bOB': '↓', '\u001bOC': '→', '\u001bOD': '←' };
  function keyName(data) {
    if (keyNames[data]) { return keyNames[data]; }
    if (data.length === 1 && data.charCodeAt(0) < 32) { return '^' + String.fromCharCode(data.charCodeAt(0) + 64); }
    if (data.charAt(0) === '\u001b') { return 'Esc' + data.slice(1); }
    return null;
  }
  function minutes(ms) {
    var seconds = Math.floor(ms / 1000);
    return Math.floor(seconds / 60) + ':' + ('0' + (seconds % 60)).slice(-2);
  }

  fetch(box.dataset.cast, { credentials: 'same-origin' }).then(function (response) {
    if (!response.ok) { throw new Error('the recording could not be read (' + response.status + ')'); }
    return response.text();
  }).then(start).catch(function (error) {
    status.textContent = 'Cannot play: ' + error.message;
    status.className = 'error';
  });

  function start(text) {
    var lines = text.split('\n').filter(function (line) { return line.length > 0; });
    var header = JSON.parse(lines[0]);
    var events = [];
    for (var i = 1; i < lines.length; i++) {
      try { events.push(JSON.parse(lines[i])); } catch (error) { /* a line cut short */ }
    }
    // Rounded up: the last event must fall inside the range, or playing would never reach it.
    var duration = events.length ? Math.ceil(events[events.length - 1][0] * 1000) : 0;
    var term = new window.Terminal({ cols: header.width || 80, rows: header.height || 24, screenReaderMode: true, disableStdin: true });
    term.open(box);
    window.berthReplay = term;
    seek.max = String(duration);

    var next = 0;          // the next event to apply
    var position = 0;      // ms into the recording
    var playing = false;
    var last = 0;

    function apply(event) {
      var code = event[1];
      var data = event[2];
      if (code === 'o') {
        term.write(data);
      } else if (code === 'r') {
        var size = String(data).split('x');
        term.resize(parseInt(size[0], 10) || term.cols, parseInt(size[1], 10) || term.rows);
      } else if (code === 'i') {
        // The terminal's own answers (where its cursor is) are not typing.
        if (/^\u001b\[\d+;\d+R$/.test(data)) { return; }
        var name = keyName(data);
        var kind = name ? 'key' : (/^•+$/.test(data) ? 'hidden' : 'text');
        var previous = typedList.lastElementChild;
        // Keystrokes of the same kind run together into one item (a word typed a letter at a time).
        if (kind !== 'key' && previous && previous.className === kind) {
          previous.textContent += data;
          return;
        }
        var item = document.createElement('li');
        item.textContent = name || data;
        item.className = kind;
        if (kind === 'hidden') { item.title = 'typed without being shown'; }
        typedList.appendChild(item);
      } else if (code === 'm') {
        status.textContent = String(data);
      }
    }
    function advanceTo(ms) {
      while (next < events.length && events[next][0] * 1000 <= ms) { apply(events[next]); next++; }
      position = ms;
      seek.value = String(Math.round(ms));
      clock.textContent = minutes(ms) + ' / ' + minutes(duration);
      box.dataset.position = String(Math.round(ms));
      if (next >= events.length) { stop(); box.dataset.state = 'ended'; }
    }
    function jumpTo(ms) {
      term.reset();
      typedList.textContent = '';
      next = 0;
      box.dataset.state = '';
      advanceTo(ms);
    }
    // A timer, not animation frames: a page the browser does not paint (a background tab) still plays on.
    function tick() {
      if (!playing) { return; }
      var now = performance.now();
      var speed = parseFloat(speedSelect.value) || 1;
      advanceTo(Math.min(duration, position + (now - last) * speed));
      last = now;
      if (playing) { window.setTimeout(tick, 20); }
    }
    function play() {
      if (next >= events.length) { jumpTo(0); }
      playing = true;
      playButton.textContent = 'Pause';
      last = performance.now();
      window.setTimeout(tick, 20);
    }
    function stop() {
      playing = false;
      playButton.textContent = 'Play';
    }
    playButton.addEventListener('click', function () { if (playing) { stop(); } else { play(); } });
    seek.addEventListener('input', function () { jumpTo(parseFloat(seek.value) || 0); });
    advanceTo(0);
    play();
  }
}());
