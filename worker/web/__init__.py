"""The web app (`firstblock web`): Starlette with Jinja2 templates, served by uvicorn
(the `web` extra). Every asset ships in the package."""
