#!/usr/bin/env python3
"""Draws static/favicon.ico (32×32, a PNG inside an ICO): the green tile with two leaves of
static/favicon.svg, rasterised here with the standard library only. Run from the repository root."""
import math
import struct
import zlib

SIZE = 32
GREEN, CREAM, GOLD = (0x2B, 0x6A, 0x3A), (0xF3, 0xE6, 0xD3), (0xE8, 0xC2, 0x7A)


def inside_ellipse(x, y, cx, cy, rx, ry, degrees):
    a = math.radians(degrees)
    dx, dy = x - cx, y - cy
    u = dx * math.cos(a) + dy * math.sin(a)
    v = -dx * math.sin(a) + dy * math.cos(a)
    return (u / rx) ** 2 + (v / ry) ** 2 <= 1


def pixel(x, y):
    px, py = x + 0.5, y + 0.5
    r = 7
    cx = min(max(px, r), SIZE - r)
    cy = min(max(py, r), SIZE - r)
    if (px - cx) ** 2 + (py - cy) ** 2 > r * r:
        return (0, 0, 0, 0)
    if inside_ellipse(px, py, 11.5, 13, 4, 6.5, -30):
        return CREAM + (255,)
    if inside_ellipse(px, py, 20.5, 13, 4, 6.5, 30):
        return GOLD + (255,)
    if abs(px - 16) <= 1.1 and 12 <= py <= 27:
        return CREAM + (255,)
    return GREEN + (255,)


def png():
    raw = b"".join(b"\0" + bytes(c for x in range(SIZE) for c in pixel(x, y)) for y in range(SIZE))

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def ico(image):
    return struct.pack("<HHH", 0, 1, 1) + struct.pack("<BBBBHHII", SIZE, SIZE, 0, 0, 1, 32, len(image), 22) + image


if __name__ == "__main__":
    with open("static/favicon.ico", "wb") as f:
        f.write(ico(png()))
