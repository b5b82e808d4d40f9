"""DL3064: Potentially sensitive data should not be used in ARG or ENV"""

from __future__ import annotations

from imgopt.lint.rule import Rule


KNOWN = frozenset("""ACCESS_TOKEN APPLICATION_KEY APP_SECRET AUTH_TOKEN AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY
BITTREX_API_KEY BITTREX_API_SECRET CF_PASSWORD CF_USERNAME CIRCLE_TOKEN CI_DEPLOY_PASSWORD CI_DEPLOY_USER
DOCKERHUB_PASSWORD DOCKER_EMAIL DOCKER_PASSWORD DOCKER_USERNAME FACEBOOK_ACCESS_TOKEN FACEBOOK_APP_ID
FACEBOOK_APP_SECRET FIREBASE_API_TOKEN FIREBASE_TOKEN FOSSA_API_KEY GH_ENTERPRISE_TOKEN GH_TOKEN
GITHUB_ENTERPRISE_TOKEN GITHUB_TOKEN HEROKU_API_KEY HEROKU_API_USER NPM_AUTH_TOKEN NPM_TOKEN
OKTA_AUTHN_GROUPID OKTA_CLIENT_ORGURL OKTA_CLIENT_TOKEN OKTA_OAUTH2_CLIENTID OKTA_OAUTH2_CLIENTSECRET
OPENAI_API_KEY OS_PASSWORD OS_USERNAME POSTGRES_PASSWORD SLACK_TOKEN STRIPE_API_KEY STRIPE_DEVICE_NAME
TRAVIS_OS_NAME TRAVIS_SECURE_ENV_VARS TRAVIS_SUDO VAULT_CLIENT_KEY VAULT_TOKEN""".split())
SUSPICIOUS = ("api_key", "client_key", "password", "private", "secret", "token", "username")
# names that point at where a secret is, not at the secret (the docker-library *_FILE convention)
POINTERS = ("_file", "_path", "_dir", "_filename")
# configuration that only looks like a secret (GOPRIVATE lists module paths)
NOT_SECRETS = frozenset({"GOPRIVATE", "GONOPROXY", "GONOSUMDB"})


def sensitive(name: str) -> bool:
    low = name.lower()
    if low.endswith(POINTERS) or name.upper() in NOT_SECRETS:
        return False
    return name.upper() in KNOWN or any(s in low for s in SUSPICIOUS)


class DL3064(Rule):
    id = "DL3064"
    severity = "warning"
    origin = "hadolint"
    title = "Potentially sensitive data should not be used in the `ARG` or `ENV` commands"
    what = """Flags ARG and ENV names that look like secrets (tokens, passwords, keys)."""
    why = """ARG and ENV values are stored in the image config and history: anyone who can pull the image
can read them.  Use `RUN --mount=type=secret` for build secrets."""
    bad = """ARG NPM_TOKEN
RUN npm config set //registry.npmjs.org/:_authToken=$NPM_TOKEN && npm ci"""
    good = """RUN --mount=type=secret,id=npm_token NPM_TOKEN=$(cat /run/secrets/npm_token) npm ci"""
    hadolint = """Names that point at a secret rather than hold one (`POSTGRES_PASSWORD_FILE`,
`AWS_WEB_IDENTITY_TOKEN_FILE`, `*_PATH`, `*_DIR`: the convention for file-based secrets), and
`GOPRIVATE` (a list of module paths), are flagged by hadolint (hadolint#1245) and not here."""

    def check(self, ctx):
        for ins in ctx.of("ARG", "ENV") + ctx.triggers("ARG", "ENV"):
            names = [n for n, _ in ins.arg_defaults] if ins.keyword == "ARG" else [n for n, _ in ins.pairs]
            if any(sensitive(n) for n in names):
                yield self.hit(ins)


RULE = DL3064()
