#!/usr/bin/env bash
# Render EXP_DIR/report/index.html in headless Chromium (Debian's `chromium`), save a screenshot
# and check it is not a blank page: enough non-white pixels and distinct colours (the figures).
#   scripts/check_report.sh EXP_DIR [SCREENSHOT.png]
# Needs: apt-get install -y chromium python3 (python3 only decodes the PNG, with its stdlib).
set -euo pipefail
exp="${1:?usage: scripts/check_report.sh EXP_DIR [SCREENSHOT.png]}"
index="$(realpath "$exp/report/index.html")"
shot="$(realpath -m "${2:-$exp/report/screenshot.png}")"
chrome="$(command -v chromium || command -v chromium-browser || true)"
[ -n "$chrome" ] || { echo "check_report: chromium not found (apt-get install -y chromium)" >&2; exit 2; }
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
rm -f "$shot"
timeout 180 "$chrome" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --disable-background-networking --disable-component-update --disable-sync --no-first-run \
  --user-data-dir="$profile" --window-size=1400,2400 --screenshot="$shot" "file://$index" \
  >/dev/null 2>&1 || true
[ -s "$shot" ] || { echo "check_report: chromium wrote no screenshot" >&2; exit 1; }
python3 - "$shot" <<'PY'
import struct, sys, zlib
data = open(sys.argv[1], "rb").read()
assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
pos, idat, w = 8, b"", 0
while pos < len(data):
    n, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + n]
    if kind == b"IHDR":
        w, h, depth, ctype = struct.unpack(">IIBB", body[:10])
        assert depth == 8 and ctype in (2, 6), f"unexpected PNG format depth={depth} type={ctype}"
        bpp = 3 if ctype == 2 else 4
    elif kind == b"IDAT":
        idat += body
    pos += 12 + n
raw = zlib.decompress(idat)
stride = w * bpp
prev = bytearray(stride)
nonwhite, colours = 0, set()
for y in range(h):
    f = raw[y * (stride + 1)]
    line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
    for i in range(stride):  # undo the PNG row filter
        a = line[i - bpp] if i >= bpp else 0
        b, c = prev[i], (prev[i - bpp] if i >= bpp else 0)
        if f == 1: line[i] = (line[i] + a) & 255
        elif f == 2: line[i] = (line[i] + b) & 255
        elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
        elif f == 4:
            p = a + b - c; pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
    prev = line
    for x in range(0, stride, bpp * 2):  # every other pixel is plenty
        px = bytes(line[x:x + 3])
        colours.add(px)
        if px != b"\xff\xff\xff":
            nonwhite += 1
share = nonwhite / (h * w / 2)
print(f"check_report: {w}x{h} screenshot, {share:.1%} non-white pixels, {len(colours)} colours")
if share < 0.03 or len(colours) < 50:
    sys.exit("check_report: the page looks blank (figures not rendered?)")
PY
echo "check_report: OK ($shot)"
