# install_deb.sh — memfence installs like a library: from a copy of this tree,
# `dpkg-buildpackage -us -uc -b` builds libmemfence0, memfence and libmemfence-dev (lintian
# finds no error); they install; a program is fenced through the installed paths (`memfence
# run`, LD_PRELOAD=libmemfence.so.0, a copied /usr/bin/memfence); a program builds against
# memfence.h with `pkg-config --cflags --libs memfence`; the examples are under
# /usr/share/doc/memfence; removing the packages removes the files.  Then `make install` and
# `make uninstall` with DESTDIR.  Skips when not root or without dpkg-buildpackage/debhelper.
. "$MF_ROOT/tests/integration/lib.sh"
[ "$(id -u)" -eq 0 ] || skip "not root: installing packages needs root"
command -v dpkg-buildpackage >/dev/null && command -v dh >/dev/null ||
    skip "dpkg-buildpackage or debhelper missing (scripts/setup installs them)"
PY=/usr/bin/python3
[ -x "$PY" ] || skip "no /usr/bin/python3"
# one install test at a time on this machine (the packages are system-wide)
exec 9>/tmp/memfence-install-test.lock
flock -w 240 9 || fail "another install test holds /tmp/memfence-install-test.lock"
pkgs="libmemfence0 memfence libmemfence-dev"
for p in $pkgs; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' &&
        skip "package $p is already installed here: not replacing it"
done
cleanup() { dpkg -P $pkgs >/dev/null 2>&1; }
trap cleanup EXIT

src=$MF_TMP/memfence
mkdir -p "$src"
if git -C "$MF_ROOT" rev-parse >/dev/null 2>&1; then
    (cd "$MF_ROOT" && git ls-files -co --exclude-standard | grep -v '^build/' | tar -cf - -T -) | tar -xf - -C "$src"
else
    (cd "$MF_ROOT" && tar --exclude=./build -cf - .) | tar -xf - -C "$src"
fi
t0=$SECONDS
(cd "$src" && DEB_BUILD_OPTIONS="noddebs parallel=2" nice dpkg-buildpackage -us -uc -b) > "$MF_TMP/build.log" 2>&1 ||
    { tail -30 "$MF_TMP/build.log"; fail "dpkg-buildpackage failed"; }
echo "dpkg-buildpackage: $((SECONDS - t0)) s"
ls "$MF_TMP"/*.deb
for p in $pkgs; do [ -f "$MF_TMP/${p}_"*_amd64.deb ] || fail "no package $p"; done
if command -v lintian >/dev/null; then
    out=$(lintian "$MF_TMP"/*.changes 2>&1 | grep -v 'running with root privileges')
    echo "$out"
    echo "$out" | grep -q '^E:' && fail "lintian reports errors"
else
    echo "(lintian not installed: not run)"
fi

dpkg -i "$MF_TMP"/libmemfence0_*.deb "$MF_TMP"/memfence_*.deb "$MF_TMP"/libmemfence-dev_*.deb ||
    fail "dpkg -i failed"
lib=$(dpkg -L libmemfence0 | grep 'libmemfence\.so\.0$')
[ -n "$lib" ] || fail "libmemfence0 has no libmemfence.so.0"
expect_eq "$(objdump -p "$lib" | awk '/SONAME/ { print $2 }')" libmemfence.so.0 "soname"
# libunwind is dlopen'ed (src/profile/unwind.c): not NEEDED, but still a dependency of the package
objdump -p "$lib" | grep -q 'NEEDED.*libunwind' && fail "libmemfence links libunwind (it loads it on use)"
dpkg-query -W -f='${Depends}' libmemfence0 | grep -q 'libunwind8' ||
    fail "libmemfence0 does not depend on libunwind8: $(dpkg-query -W -f='${Depends}' libmemfence0)"
for f in /usr/share/doc/memfence/memfence.conf.example /usr/share/doc/memfence/kubernetes/pod.yaml \
         /usr/share/doc/memfence/systemd/ollama-memfence.conf /usr/share/man/man1/memfence.1.gz \
         /usr/share/man/man5/memfence.conf.5.gz /usr/include/memfence.h; do
    [ -e "$f" ] || fail "not installed: $f"
done

grow='try:
    b = bytearray(200 << 20); print("GREW")
except MemoryError:
    print("REFUSED")'
out=$(cd / && MEMFENCE_CONFIG=none /usr/bin/memfence run -l 64M -- $PY -c "$grow" 2>&1)
echo "$out"
echo "$out" | grep -qx REFUSED || fail "the installed memfence run did not fence python3"
out=$(cd / && MEMFENCE_CONFIG=none MEMFENCE_LIMIT=64M LD_PRELOAD=libmemfence.so.0 $PY -c "$grow" 2>&1)
echo "$out" | grep -qx REFUSED || fail "LD_PRELOAD=libmemfence.so.0 did not fence python3: $out"
mkdir -p "$MF_TMP/copy"
cp /usr/bin/memfence "$MF_TMP/copy/"
out=$(MEMFENCE_CONFIG=none "$MF_TMP/copy/memfence" run -l 64M -- $PY -c "$grow" 2>&1)
echo "$out"
echo "$out" | grep -qx REFUSED || fail "a copied memfence did not find the installed library"

cat > "$MF_TMP/api.c" <<'C'
#include <stdio.h>
#include <memfence.h>
int main(void)
{
    if (!memfence_present()) { puts("absent"); return 0; }
    printf("%llu\n", (unsigned long long)memfence_limit(MEMFENCE_POOL_HOST));
    return 0;
}
C
flags=$(pkg-config --cflags --libs memfence) || fail "pkg-config knows no memfence"
echo "pkg-config: $flags"
cc -Wall -Werror -o "$MF_TMP/api" "$MF_TMP/api.c" $flags || fail "a program does not build with pkg-config"
expect_eq "$("$MF_TMP/api")" absent "the API program without memfence"
expect_eq "$(MEMFENCE_CONFIG=none /usr/bin/memfence run -l 64M -- "$MF_TMP/api" 2>/dev/null)" 67108864 \
    "memfence_limit() under memfence run"

dpkg -P $pkgs >/dev/null || fail "dpkg -P failed"
for f in /usr/bin/memfence "$lib" /usr/include/memfence.h /usr/share/doc/memfence/memfence.conf.example; do
    [ -e "$f" ] && fail "still there after removal: $f"
done

# make install / make uninstall with DESTDIR, in the tree the packages were built from
d=$MF_TMP/destdir
vars="PREFIX=/usr LIBDIR=/usr/lib/x86_64-linux-gnu DESTDIR=$d"
make -C "$src" $vars install > "$MF_TMP/install.log" 2>&1 || { cat "$MF_TMP/install.log"; fail "make install"; }
for f in usr/bin/memfence usr/lib/x86_64-linux-gnu/libmemfence.so.0 usr/lib/x86_64-linux-gnu/pkgconfig/memfence.pc \
         usr/share/doc/memfence/memfence.conf.example usr/share/doc/memfence/systemd/memfence-job@.service; do
    [ -e "$d/$f" ] || fail "make install did not install $f"
done
expect_eq "$(PKG_CONFIG_PATH=$d/usr/lib/x86_64-linux-gnu/pkgconfig pkg-config --variable=includedir memfence)" \
    /usr/include "memfence.pc's includedir"
make -C "$src" $vars uninstall > "$MF_TMP/install.log" 2>&1 || { cat "$MF_TMP/install.log"; fail "make uninstall"; }
left=$(find "$d" -type f -o -type l)
[ -z "$left" ] || fail "make uninstall left: $left"
pass "packages built ($((SECONDS - t0)) s), installed, fenced through the installed paths, removed; make install/uninstall"
