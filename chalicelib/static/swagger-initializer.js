// Starts Swagger UI on the /docs page. A file rather than an inline script, so that the page's
// Content-Security-Policy can allow the app's own scripts only.
window.addEventListener("load", () => {
  window.ui = SwaggerUIBundle({
    url: "openapi.json", // relative: /openapi.json, or /<stage>/openapi.json behind API Gateway
    dom_id: "#swagger-ui",
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout", // no top bar: it would let the page load any document, from anywhere
    deepLinking: true,
    persistAuthorization: true, // an app id entered in Authorize survives a reload (this browser's storage)
    tryItOutEnabled: true,
  });
});
