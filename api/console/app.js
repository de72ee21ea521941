// The console's only script (served from /console, as the
// Content-Security-Policy allows): follow the page's event stream and swap
// in each re-rendered fragment.
const live = document.getElementById("live");
if (live && live.dataset.stream) {
  const state = document.getElementById("state");
  const es = new EventSource(live.dataset.stream);
  es.onopen = () => { state.textContent = "connected"; };
  es.onerror = () => { state.textContent = "reconnecting"; };
  es.addEventListener("update", (e) => { live.innerHTML = e.data; });
}
