# Sourced by bin/compile: Node, npm, yarn and pnpm from the npm registry, verified and cached.
#
# Where a package comes from, fastest first:
#   1. the app's own build cache (CACHE_DIR/dist/<name>/<version>/, extracted, with the integrity
#      it was checked against): only this app's builds write it, so it can only hurt this app;
#   2. the host-wide cache $SHARED_CACHE (the builder binds $SLIPWAY_CACHE/runtimes there, shared
#      by every app's builds): a tarball in it is copied out and used only if its hash is the
#      `dist.integrity` the registry gave this build, so one tenant cannot plant a modified Node
#      or yarn for another (a planted file is just a miss, and is replaced);
#   3. the registry (registry.js download checks the same integrity), then saved to 2.
# Needs: PLAN, REGISTRY_JS (the lib/*.js), CACHE_DIR, TMP_DIR.

SHARED_CACHE=/slipway/runtimes
DIST_CACHE=$CACHE_DIR/dist

# tgz_name NAME VERSION: the file name `npm pack` gives (@scope/x → scope-x-1.0.0.tgz).
tgz_name() { local n=${1#@}; echo "${n//\//-}-$2.tgz"; }

# fetch_verified NAME VERSION INTEGRITY TARBALL_URL: sets FETCHED to a tarball in TMP_DIR whose
# hash is INTEGRITY and FETCH_SOURCE to where it came from.
fetch_verified() {
  local name=$1 version=$2 integrity=$3 url=$4 file work shared
  file=$(tgz_name "$name" "$version")
  work=$(mktemp -d "$TMP_DIR/fetch.XXXXXX")
  shared=$SHARED_CACHE/$file
  # A regular file, not a link or FIFO a neighbour planted; copied before it is checked, so it
  # cannot change between the check and its use.
  if [[ -f $shared && ! -L $shared ]] && timeout 120 cp --no-dereference "$shared" "$work/$file" 2>/dev/null &&
    [[ -f $work/$file && ! -L $work/$file ]] && node "$PLAN" integrity "$work/$file" "$integrity"; then
    FETCH_SOURCE="cache hit: the host's runtime cache, integrity checked"
    FETCHED=$work/$file
    return 0
  fi
  rm -f "$work/$file"
  node "$REGISTRY_JS" download "$url" "$integrity" "$work/$file" 2>&1 | sed 's/^/       /' >&2
  [[ -f $work/$file ]] || return 1
  FETCH_SOURCE="cache miss: downloaded from the registry, integrity checked"
  # Share it (atomically; best effort: the host cache may be absent, read-only or full).
  if [[ -d $SHARED_CACHE && -w $SHARED_CACHE ]]; then
    local tmp
    if tmp=$(mktemp "$SHARED_CACHE/.tmp-XXXXXX" 2>/dev/null); then
      { cp "$work/$file" "$tmp" && chmod 0644 "$tmp" && mv -f "$tmp" "$shared"; } 2>/dev/null || rm -f "$tmp"
    fi
  fi
  FETCHED=$work/$file
}

# install_dist NAME VERSION INTEGRITY TARBALL_URL: the package extracted into
# DIST_CACHE/<name>/<version> (kept across this app's builds); sets DIST_DIR to it and
# DIST_SOURCE to where it came from (for the log).
install_dist() {
  local name=$1 version=$2 integrity=$3 url=$4 dir
  dir=$DIST_CACHE/${name//\//+}/$version
  DIST_DIR=$dir
  if [[ -f $dir/.slipway-integrity && $(<"$dir/.slipway-integrity") == "$integrity" ]]; then
    DIST_SOURCE="cache hit: this app's build cache"
    touch "$dir"
    return 0
  fi
  fetch_verified "$name" "$version" "$integrity" "$url" || return 1
  rm -rf "$dir" "$dir.tmp"
  mkdir -p "$dir.tmp"
  # Docs and man pages are needed by neither builds nor apps.
  tar -xzf "$FETCHED" -C "$dir.tmp" --strip-components=1 --no-same-owner --exclude='package/share' || return 1
  rm -f "$FETCHED"
  echo "$integrity" >"$dir.tmp/.slipway-integrity"
  mv -T "$dir.tmp" "$dir"
  # Keep this app's two most recently used versions of each package.
  ls -1dt "$DIST_CACHE/${name//\//+}"/*/ 2>/dev/null | tail -n +3 | xargs -r rm -rf
  DIST_SOURCE=$FETCH_SOURCE
}
