// The course website's slider panels (tools/build_site.py writes their HTML). Each panel lists
// every position's pre-drawn picture and printed text in its inline JSON; a control only picks
// which one to show: no request other than the <img> itself, so file:// works too.
document.querySelectorAll('.panel-viewer').forEach(function (panel) {
  var data = JSON.parse(panel.querySelector('.panel-data').textContent);
  var controls = Array.prototype.slice.call(panel.querySelectorAll('input, select'));
  var img = panel.querySelector('.panel-picture');
  var link = panel.querySelector('.panel-picture-link');     // opens the picture full size
  var printed = panel.querySelector('.panel-text');
  function show() {
    var position = controls.map(function (c) { return Number(c.value); });
    var picture = data.pictures[data.positions[position.join(',')]];
    controls.forEach(function (c, i) {
      if (c.type === 'range') {
        var label = data.labels[i][position[i]];
        c.setAttribute('aria-valuetext', label);
        panel.querySelector('output[for="' + c.id + '"]').textContent = label;
      }
    });
    img.src = picture[0];
    link.setAttribute('href', picture[0]);
    img.width = picture[1];
    img.height = picture[2];
    // alt text: what the position printed, or else which position it is
    img.alt = picture[3].trim() || data.descriptions.map(function (d, i) {
      return d + ' ' + data.labels[i][position[i]];
    }).join(', ');
    printed.textContent = picture[3];
  }
  controls.forEach(function (c) { c.addEventListener('input', show); });
});
