// /docs: Swagger UI on the document named by the container's data-spec-url (a file, so the page's CSP allows it).
window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: container.dataset.specUrl,
    dom_id: "#swagger-ui",
    deepLinking: true,
    validatorUrl: null, // never call swagger.io's validator
    defaultModelsExpandDepth: 1,
  });
  document.getElementById("docs-fallback").hidden = true;
});
