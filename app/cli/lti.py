"""`course-guide lti`: the tool's LTI 1.3 URLs and public JWKS for a platform's forms, and the platform registrations."""
from __future__ import annotations

import json

import click

from app.cli.common import course_option, json_option, make_settings, opened_store


@click.group()
def lti() -> None:
    """LTI 1.3: launch Course Guide from Canvas, Moodle or Open edX. Start with `lti info`, then `lti register`."""


@lti.command()
@course_option
@json_option
def info(course: str | None, as_json: bool) -> None:
    """The URLs to enter in the platform's tool form (from COURSE_GUIDE_PUBLIC_URL) and the tool's public key set;
    with --course, the URLs that launch into that registered course."""
    from app.lti.registry import jwks, tool_urls

    settings = make_settings(course=course)
    with opened_store(settings) as store:
        keys = jwks(store)
    urls = tool_urls(settings.base_url())
    if as_json:
        click.echo(json.dumps({**urls, "public_jwks": keys}, indent=2))
        return
    if not settings.public_url:
        click.echo("Note: COURSE_GUIDE_PUBLIC_URL is not set, so these URLs use the local address; set it to the address "
                   "the platform reaches (https://...) before registering.", err=True)
    for name, label in (("login", "OpenID Connect login (initiation) URL"), ("launch", "Redirect / launch URL (target link URI)"),
                        ("deep_link", "Deep Linking URL"), ("jwks", "Public JWK set URL")):
        click.echo(f"{label}: {urls[name]}")
    click.echo("Public JWK set:")
    click.echo(json.dumps(keys, indent=2))


@lti.command()
@click.option("--issuer", required=True, help="The platform's issuer, e.g. https://canvas.instructure.com.")
@click.option("--client-id", required=True, help="The client id the platform gave this tool.")
@click.option("--deployment-id", "deployment_ids", required=True, multiple=True, help="A deployment id (repeat for several).")
@click.option("--auth-url", required=True, help="The platform's OIDC authorization (auth login) URL.")
@click.option("--token-url", required=True, help="The platform's OAuth2 access-token URL (for grades).")
@click.option("--jwks-url", required=True, help="The platform's public key-set (JWKS) URL.")
@json_option
def register(issuer: str, client_id: str, deployment_ids: tuple[str, ...], auth_url: str, token_url: str, jwks_url: str,
             as_json: bool) -> None:
    """Register a platform (or update its registration; deployment ids are added to those kept)."""
    from app.lti.registry import RegistrationError
    from app.lti.registry import register as store_registration

    with opened_store(make_settings()) as store:
        try:
            platform = store_registration(store, issuer=issuer, client_id=client_id, deployment_ids=list(deployment_ids),
                                          auth_login_url=auth_url, token_url=token_url, jwks_url=jwks_url)
        except RegistrationError as err:
            raise click.ClickException(str(err)) from None
    if as_json:
        click.echo(json.dumps(platform.to_dict(), indent=2))
    else:
        click.echo(f"Registered {platform.issuer} (client id {platform.client_id}, deployments {', '.join(platform.deployment_ids)}).")


@lti.command("list")
@json_option
def list_platforms(as_json: bool) -> None:
    """The registered platforms."""
    from app.lti.registry import platforms

    with opened_store(make_settings()) as store:
        found = platforms(store)
    if as_json:
        click.echo(json.dumps([p.to_dict() for p in found], indent=2))
        return
    if not found:
        click.echo("No platform is registered; add one with `course-guide lti register`.")
    for p in found:
        click.echo(f"{p.issuer}  client id {p.client_id}  deployments {', '.join(p.deployment_ids)}  keys {p.jwks_url}")


@lti.command()
@click.option("--issuer", required=True, help="The platform's issuer, as `lti list` shows it.")
@click.option("--client-id", required=True, help="The client id, as `lti list` shows it.")
def remove(issuer: str, client_id: str) -> None:
    """Delete a platform registration: its launches are refused from then on."""
    from app.lti.registry import remove as remove_registration

    with opened_store(make_settings()) as store:
        removed = remove_registration(store, issuer, client_id)
    if not removed:
        raise click.ClickException(f"No registration of {issuer} with client id {client_id}; `course-guide lti list` shows them.")
    click.echo(f"Removed {issuer} (client id {client_id}).")
