// The project editor: CodeMirror (Debian's libjs-codemirror) with line numbers and YAML colours over the plain text
// areas, the lines with errors marked, and each error's "line N" link taking the cursor there. Without CodeMirror the
// text areas work as they are, and the links select the line in them.
(function () {
  'use strict';
  var compose = document.getElementById('compose');
  if (!compose) { return; }
  var editor = null;
  if (window.CodeMirror) {
    editor = window.CodeMirror.fromTextArea(compose, { lineNumbers: true, mode: 'yaml', indentUnit: 2, tabSize: 2, viewportMargin: Infinity,
      extraKeys: { Tab: function (cm) { cm.replaceSelection('  '); } } });
    (compose.getAttribute('data-error-lines') || '').split(',').forEach(function (line) {
      var number = parseInt(line, 10);
      if (number > 0) { editor.addLineClass(number - 1, 'background', 'editor-error-line'); }
    });
    var env = document.getElementById('env');
    if (env) { window.CodeMirror.fromTextArea(env, { lineNumbers: true, mode: 'yaml' }); }
  }
  function goTo(number) {
    if (editor) {
      editor.focus();
      editor.setCursor({ line: number - 1, ch: 0 });
      editor.scrollIntoView({ line: number - 1, ch: 0 }, 80);
      return;
    }
    var lines = compose.value.split('\n');
    var start = 0;
    for (var i = 0; i < number - 1 && i < lines.length; i++) { start += lines[i].length + 1; }
    compose.focus();
    compose.setSelectionRange(start, start + (lines[number - 1] || '').length);
  }
  Array.prototype.forEach.call(document.querySelectorAll('.error-line'), function (link) {
    link.addEventListener('click', function (event) {
      event.preventDefault();
      goTo(parseInt(link.getAttribute('data-line'), 10));
    });
  });
})();
