"""Builds the certificate's shipped assets under data/certificate/ (committed; rerun when the
issuer or the fonts change):

    .venv/bin/python scripts/make_certificate_assets.py ["新疆维吾尔自治区住房和城乡建设厅"]

* seal.jpg — the default issuer's seal: a red round seal (ring, five-pointed star, the issuer
  along the upper arc, 继续教育专用章 below) drawn with Pillow on the certificate's paper
  colour. A JPEG without alpha is embedded by WeasyPrint as it is (no re-encoding per
  certificate); it is painted under the text, which looks like ink over ink.
  Production points CERTIFICATE_SEAL_IMAGE at the real seal (JPEG, PNG or SVG).
* fonts/cert-sans.otf — Noto Sans CJK SC cut down to GB 2312 (6,763 汉字), ASCII and common
  punctuation; fonts/cert-title.otf — Noto Serif CJK SC Bold cut down to the title. WeasyPrint
  subsets each embedded face per document; cutting a 65,000-glyph collection down to these
  first makes that several times cheaper. Characters outside the cut (rare 汉字 in a name)
  fall back to the full system font. The Noto fonts are under the SIL Open Font License 1.1;
  the cut fonts are renamed (CertSans, CertTitle) as the licence asks of modified versions.
"""
from __future__ import annotations

import math
import sys
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection
from PIL import Image, ImageDraw, ImageFont

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "data" / "certificate"
SANS = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"
SERIF_BOLD = "/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"
PAPER = (255, 253, 246)  # the certificate's background (#fffdf6)
RED = (211, 18, 26)
TITLE = "继续教育合格证书"


def _sc_face(path: str):
    collection = TTCollection(path)
    for font in collection.fonts:
        if font["name"].getDebugName(1).endswith("CJK SC"):
            return font
    raise SystemExit(f"{path}: no SC face")


def gb2312() -> str:
    chars = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(bytes([hi, lo]).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return "".join(sorted(chars))


def cut_font(source: str, text: str, family: str, out: Path) -> None:
    font = _sc_face(source)
    options = subset.Options()
    options.layout_features = ["*"]
    options.name_IDs = ["*"]
    options.hinting = False
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    subsetter.populate(text=text)
    subsetter.subset(font)
    for record in font["name"].names:
        if record.nameID in (1, 3, 4, 6, 16):
            record.string = family
    out.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(out))


def _star(cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    return [(cx + (r if i % 2 == 0 else r * 0.382) * math.cos(-math.pi / 2 + i * math.pi / 5),
             cy + (r if i % 2 == 0 else r * 0.382) * math.sin(-math.pi / 2 + i * math.pi / 5))
            for i in range(10)]


def draw_seal(issuer: str, bottom: str = "继续教育专用章", size: int = 480) -> Image.Image:
    s = size * 2  # drawn large, then reduced: smooth edges
    ink = Image.new("L", (s, s), 0)  # ink coverage, then laid on the paper colour
    d = ImageDraw.Draw(ink)
    c = s / 2
    ring = s * 0.47
    d.ellipse([c - ring, c - ring, c + ring, c + ring], outline=235, width=int(s * 0.028))
    d.polygon(_star(c, c, s * 0.13), fill=235)
    font = ImageFont.truetype(SERIF_BOLD, int(s * 0.085), index=2)
    n = len(issuer)
    span = math.radians(min(250, 22 * n))
    radius = s * 0.355
    for i, ch in enumerate(issuer):
        angle = -math.pi / 2 - span / 2 + span * (i + 0.5) / n
        glyph = Image.new("L", (int(s * 0.12), int(s * 0.12)), 0)
        ImageDraw.Draw(glyph).text((glyph.width / 2, glyph.height / 2), ch, font=font, fill=235,
                                   anchor="mm")
        glyph = glyph.rotate(-math.degrees(angle) - 90, resample=Image.BICUBIC)
        x = int(c + radius * math.cos(angle) - glyph.width / 2)
        y = int(c + radius * math.sin(angle) - glyph.height / 2)
        ink.paste(255, (x, y), glyph)
    small = ImageFont.truetype(SERIF_BOLD, int(s * 0.07), index=2)
    d.text((c, c + s * 0.27), bottom, font=small, fill=235, anchor="mm")
    ink = ink.resize((size, size), Image.LANCZOS)
    return Image.composite(Image.new("RGB", ink.size, RED), Image.new("RGB", ink.size, PAPER), ink)


def main() -> None:
    issuer = sys.argv[1] if len(sys.argv) > 1 else "新疆维吾尔自治区住房和城乡建设厅"
    OUT.mkdir(parents=True, exist_ok=True)
    draw_seal(issuer).save(OUT / "seal.jpg", quality=90)
    ascii_ = "".join(chr(c) for c in range(0x20, 0x7F))
    cut_font(SANS, gb2312() + ascii_ + "·•（）：，。、；！？“”‘’—…《》【】", "CertSans",
             OUT / "fonts" / "cert-sans.otf")
    cut_font(SERIF_BOLD, TITLE + ascii_, "CertTitle", OUT / "fonts" / "cert-title.otf")
    for path in sorted(OUT.rglob("*.*")):
        print(path.relative_to(ROOT), path.stat().st_size)


if __name__ == "__main__":
    main()
