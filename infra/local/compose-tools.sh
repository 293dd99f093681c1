#!/usr/bin/env bash
# Checkers for the container files that need no Docker engine (none runs here or in CI), built from the
# Go module proxy into $USERQ_CACHE once and reused:
#   compose-tools.sh install              build both (when missing)
#   compose-tools.sh compose ARGS...      Docker Compose itself, as a standalone binary: `compose config`
#                                         validates and resolves docker-compose.yml without an engine
#   compose-tools.sh dockerlint FILE...   BuildKit's Dockerfile checks, the rules of `docker build --check`
#                                         (infra/local/dockerlint, a few lines around BuildKit's own code)
#   compose-tools.sh path compose|dockerlint   print the binary's path (building it when missing)
# Needs Go (go.mod of Compose asks for 1.26.8 or newer; an older go fetches that toolchain by itself).
# The first build takes a few minutes (Compose has many dependencies); later calls start at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/common.sh"

COMPOSE_VERSION="v5.6.0"   # pinned: the newest release whose go.mod a go1.26.8 accepts
COMPOSE_MODULE="github.com/docker/compose/v5"
compose_bin="$USERQ_CACHE/docker-compose-$COMPOSE_VERSION/docker-compose"
# The linter's build is named after its sources, so that a change to them builds it again.
lint_id=$(cat "$here/dockerlint/go.mod" "$here/dockerlint/go.sum" "$here/dockerlint/main.go" | sha256sum | cut -c1-12)
lint_bin="$USERQ_CACHE/dockerlint-$lint_id/dockerlint"

go_env() {
  command -v go >/dev/null || die "go is needed to build the compose validator and the Dockerfile linter"
  # Exactly the versions of the sources' go.sum; no VCS stamping (the module cache has no .git).
  export GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0
  mkdir -p "$USERQ_CACHE"
}

# build_to BIN DIR PKG [LDFLAGS]: build PKG from DIR into BIN, atomically (a stopped build leaves no BIN).
build_to() {
  local bin=$1 dir=$2 pkg=$3 ldflags=${4:-} tmp
  mkdir -p "$(dirname "$bin")"
  tmp="$bin.tmp.$$"
  (cd "$dir" && go build -trimpath -ldflags "-s -w $ldflags" -o "$tmp" "$pkg") \
    > "$bin.log" 2>&1 || { tail -n 30 "$bin.log" >&2; rm -f "$tmp"; die "could not build $bin"; }
  mv -f "$tmp" "$bin"
}

install_compose() {
  [ -x "$compose_bin" ] && return 0
  go_env
  log "building Docker Compose $COMPOSE_VERSION from the Go module proxy (once, a few minutes)"
  local src
  # Built in its own module directory so that its go.mod (with its exclude directives) and go.sum
  # decide every dependency's version, as in Compose's own release build; `go install pkg@version`
  # refuses a go.mod with exclude directives.
  src=$(cd "$USERQ_CACHE" && go mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$src" ] && [ -d "$src" ] || die "go mod download gave no source directory for $COMPOSE_MODULE@$COMPOSE_VERSION"
  build_to "$compose_bin" "$src" ./cmd "-X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION"
  log "Docker Compose $COMPOSE_VERSION is $compose_bin"
}

install_dockerlint() {
  [ -x "$lint_bin" ] && return 0
  go_env
  log "building the Dockerfile linter (BuildKit's checks) from the Go module proxy (once)"
  build_to "$lint_bin" "$here/dockerlint" .
  log "the Dockerfile linter is $lint_bin"
}

case "${1:-}" in
  install) install_compose; install_dockerlint ;;
  compose) shift; install_compose; exec "$compose_bin" "$@" ;;
  dockerlint) shift; install_dockerlint; exec "$lint_bin" "$@" ;;
  path)
    case "${2:-}" in
      compose) install_compose; echo "$compose_bin" ;;
      dockerlint) install_dockerlint; echo "$lint_bin" ;;
      *) echo "usage: $0 path compose|dockerlint" >&2; exit 2 ;;
    esac ;;
  *) echo "usage: $0 install | compose ARGS... | dockerlint FILE... | path compose|dockerlint" >&2; exit 2 ;;
esac
