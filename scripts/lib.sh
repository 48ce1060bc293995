# Shared helpers for scripts/demo and scripts/test. Sourced, not run.
# Installs what ferry's demo and tests need, into the repository (never system-wide, except
# gpg from Debian when it is missing).

FERRY_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
FERRY_VENV=${FERRY_VENV:-$FERRY_ROOT/.venv}
GIT_ANNEX_PIP=${GIT_ANNEX_PIP:-git-annex==10.20261026}

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# git-annex from PyPI into a venv inside the repository, unless one is already on PATH.
ensure_git_annex() {
  if [ -x "$FERRY_VENV/bin/git-annex" ]; then
    export PATH="$FERRY_VENV/bin:$PATH"
    return
  fi
  if command -v git-annex >/dev/null 2>&1 && [ -z "${FERRY_FORCE_VENV:-}" ]; then
    return
  fi
  command -v python3 >/dev/null || die "python3 is needed to install git-annex from PyPI"
  say "installing $GIT_ANNEX_PIP from PyPI into $FERRY_VENV"
  python3 -m venv "$FERRY_VENV" || die "could not create a venv at $FERRY_VENV"
  "$FERRY_VENV/bin/pip" install -q "$GIT_ANNEX_PIP" || die "pip could not install $GIT_ANNEX_PIP"
  export PATH="$FERRY_VENV/bin:$PATH"
}

# gpg is what git-annex's encryption=shared runs; Debian's package when missing.
ensure_gpg() {
  command -v gpg >/dev/null 2>&1 && return
  say "installing gnupg from Debian"
  if [ "$(id -u)" = 0 ]; then
    { apt-get update -qq && apt-get install -y -qq gnupg; } >/dev/null || die "apt-get could not install gnupg"
  else
    { sudo apt-get update -qq && sudo apt-get install -y -qq gnupg; } >/dev/null || die "could not install gnupg; install it and retry"
  fi
}

ensure_cargo() {
  command -v cargo >/dev/null 2>&1 || die "cargo is needed: install Rust from https://rustup.rs"
}

# A git identity for the throwaway repositories the demo and tests create, without touching the
# user's own git config.
export_git_identity() {
  export GIT_AUTHOR_NAME=${GIT_AUTHOR_NAME:-ferry}
  export GIT_AUTHOR_EMAIL=${GIT_AUTHOR_EMAIL:-ferry@example.invalid}
  export GIT_COMMITTER_NAME=${GIT_COMMITTER_NAME:-ferry}
  export GIT_COMMITTER_EMAIL=${GIT_COMMITTER_EMAIL:-ferry@example.invalid}
}
