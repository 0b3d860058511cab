// A click on a citation marker [n] brings its passage into view and flashes it.
// Delegated on the document (capture phase) so it works for answers rendered later
// and before any framework handler opens the link.
document.addEventListener("click", function (event) {
  var link = event.target.closest && event.target.closest('a[href^="#rag-c-"]');
  if (!link) return;
  event.preventDefault();
  event.stopPropagation();
  var target = document.getElementById(link.getAttribute("href").slice(1));
  if (!target) return;
  var details = target.closest("details");
  if (details) details.open = true;
  target.scrollIntoView({ behavior: "smooth", block: "center" });
  target.classList.remove("rag-flash");
  void target.offsetWidth; // restart the animation on repeated clicks
  target.classList.add("rag-flash");
}, true);
