// The console page: xterm.js joined to the container's process over the console's WebSocket. Output comes as binary
// messages, events (opened, exit, closed, error) as JSON text; keystrokes go as binary, the size as JSON.
(function () {
  'use strict';
  var box = document.getElementById('console');
  var status = document.getElementById('console-status');
  var form = document.getElementById('console-form');
  var connectButton = document.getElementById('console-connect');
  var disconnectButton = document.getElementById('console-disconnect');
  if (!box) { return; }

  function say(text, kind) {
    status.textContent = text;
    status.className = kind || '';
    box.dataset.state = kind || '';
  }
  if (box.dataset.unavailable || !window.Terminal) {
    say('No console can be opened from this server (see the message above).', 'error');
    return;
  }
  if (window.TerminalFit) { window.Terminal.applyAddon(window.TerminalFit); }

  // The accessibility tree keeps the screen's text in the page, for screen readers (and the browser tests).
  var term = new window.Terminal({ cursorBlink: true, scrollback: 5000, screenReaderMode: true });
  term.open(box);
  if (term.fit) { term.fit(); }
  window.berthTerminal = term;

  var socket = null;
  var encoder = new TextEncoder();
  var decoder = null;
  var ended = false;

  function setConnected(connected) {
    disconnectButton.disabled = !connected;
    connectButton.textContent = connected ? 'Reconnect' : 'Connect';
  }

  function sendSize() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: 'resize', cols: term.cols, rows: term.rows }));
    }
  }

  function handle(message) {
    if (message.type === 'opened') {
      say('Connected: ' + message.command + ' (recording #' + message.recording + ')', 'ok');
      term.focus();
    } else if (message.type === 'exit') {
      ended = true;
      say('The process exited with code ' + message.code + '.', message.code === 0 ? 'ok' : 'exited');
    } else if (message.type === 'closed') {
      ended = true;
      say(message.message, 'closed');
    } else if (message.type === 'error') {
      ended = true;
      say(message.message, 'error');
    }
  }

  function connect() {
    if (socket) { socket.close(); }
    ended = false;
    term.reset();
    decoder = new TextDecoder('utf-8');
    var params = new URLSearchParams();
    ['command', 'user', 'workdir'].forEach(function (name) {
      var value = form.elements[name].value.trim();
      if (value) { params.set(name, value); }
    });
    params.set('cols', term.cols);
    params.set('rows', term.rows);
    var scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    var opened = new WebSocket(scheme + location.host + box.dataset.socket + '?' + params.toString(),
      ['berth.console', 'berth.csrf.' + box.dataset.csrf]);
    opened.binaryType = 'arraybuffer';
    socket = opened;
    say('Connecting…', 'connecting');
    setConnected(true);
    opened.onmessage = function (event) {
      if (typeof event.data === 'string') {
        try { handle(JSON.parse(event.data)); } catch (error) { /* not ours */ }
      } else {
        term.write(decoder.decode(new Uint8Array(event.data), { stream: true }));
      }
    };
    opened.onclose = function () {
      if (socket !== opened) { return; }
      socket = null;
      setConnected(false);
      if (!ended) { say('The connection closed. Connect to open a new console.', 'closed'); }
    };
  }

  term.on('data', function (data) {
    if (socket && socket.readyState === WebSocket.OPEN) { socket.send(encoder.encode(data)); }
  });
  term.on('resize', sendSize);
  window.addEventListener('resize', function () { if (term.fit) { term.fit(); } });

  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var query = new URLSearchParams(new FormData(form)).toString();
    history.replaceState(null, '', form.action + (query ? '?' + query : ''));
    connect();
  });
  disconnectButton.addEventListener('click', function () {
    if (socket) { socket.close(); }
  });
  connect();
}());
