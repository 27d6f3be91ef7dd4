// The course website's prediction questions (tools/build_site.py writes their forms from the
// questions' data). Each form carries, as inline JSON, the feedback on every choice it allows,
// in the notebook widget's own words; Check shows the one chosen. No request.
document.querySelectorAll('.predict-form').forEach(function (form) {
  var data = JSON.parse(form.querySelector('.predict-data').textContent);
  var feedback = form.querySelector('.predict-feedback');
  form.addEventListener('submit', function (event) {
    event.preventDefault();
    var chosen = Array.prototype.filter.call(form.querySelectorAll('input'), function (input) {
      return input.checked;
    }).map(function (input) { return input.value; });
    feedback.innerHTML = chosen.length ? data.chosen[chosen.join(',')] : data.none;
  });
});
