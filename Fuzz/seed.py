#!/usr/bin/env python3
"""Seeds the fuzz corpora from real bytes: the generator's demo dumps (plain) and the public
MRT samples, split into whole streams, single records, BGP messages and EVPN NLRI."""
import bz2, glob, os, random, struct, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
out = os.path.join(root, ".build-fuzz", "corpus")
data = os.path.join(root, ".build-fuzz", "seed-data")
subprocess.run([os.path.join(root, ".build/release/evpnscope"), "generate", os.path.join(root, "datasets/scenarios/demo.json"),
                "--out", data, "--compression", "plain"], check=True, stdout=subprocess.DEVNULL)
for name in ("mrt", "bmp", "update", "evpn", "bzip2", "report"):
    os.makedirs(os.path.join(out, name), exist_ok=True)

def save(kind, index, blob):
    with open(os.path.join(out, kind, f"seed-{index:05d}"), "wb") as f:
        f.write(blob)

mrt_files = sorted(glob.glob(os.path.join(data, "dumps/mrt/*"))) + sorted(glob.glob(os.path.join(root, "../shared/datasets/public/mrtparse-samples/*")))
n = 0
for path in mrt_files:
    blob = open(path, "rb").read()
    save("mrt", n, blob[:65536]); n += 1
    pos, records = 0, 0
    while pos + 12 <= len(blob) and records < 200:
        _, mtype, subtype, length = struct.unpack(">IHHI", blob[pos:pos + 12])
        record = blob[pos:pos + 12 + length]
        save("mrt", n, record); n += 1
        if mtype == 17 and subtype in (4, 9):  # BGP4MP_ET MESSAGE_AS4(_ADDPATH): IPv4 peers
            message = record[12 + 4 + 20:]
            save("update", n, message)
            body = message[19:]
            if len(body) > 4:
                wlen = struct.unpack(">H", body[:2])[0]
                alen = struct.unpack(">H", body[2 + wlen:4 + wlen])[0]
                attrs, i = body[4 + wlen:4 + wlen + alen], 0
                while i + 3 <= len(attrs):
                    flags, atype = attrs[i], attrs[i + 1]
                    hl = 4 if flags & 0x10 else 3
                    alen2 = struct.unpack(">H", attrs[i + 2:i + 4])[0] if flags & 0x10 else attrs[i + 2]
                    value = attrs[i + hl:i + hl + alen2]
                    if atype == 14 and value[:3] == b"\x00\x19\x46":
                        nh = value[3]
                        save("evpn", n, value[4 + nh + 1:])
                    i += hl + alen2
        pos += 12 + length
        records += 1
bmp = open(glob.glob(os.path.join(data, "dumps/bmp/*"))[0], "rb").read()
save("bmp", 0, bmp[:65536])
pos, k = 0, 1
while pos + 6 <= len(bmp) and k < 300:
    length = struct.unpack(">I", bmp[pos + 1:pos + 5])[0]
    save("bmp", k, bmp[pos:pos + length]); k += 1
    pos += length


def openbmp(message, router):
    """One message behind OpenBMP's binary header (v1.7): the `openbmp.bmp_raw` topic's record."""
    fields = (struct.pack(">BBII", 0x80, 12, 1795485600, 0) + b"\xc0" * 16 + struct.pack(">H", 4) + b"coll"
              + bytes([router]) * 16 + bytes([192, 0, 2, router]) + b"\x00" * 12 + struct.pack(">H", 0)
              + struct.pack(">I", 1))
    return b"OBMP" + bytes([1, 7]) + struct.pack(">HI", 12 + len(fields), len(message)) + fields + message


# OpenBMP records of the same messages, two routers interleaved (the fuzz target reads "O..." as OpenBMP).
pos, k, records = 0, 0, []
while pos + 6 <= len(bmp) and k < 200:
    length = struct.unpack(">I", bmp[pos + 1:pos + 5])[0]
    records.append(openbmp(bmp[pos:pos + length], 1 + k % 2))
    if k % 20 == 0:
        save("bmp", 1000 + k, b"".join(records[-4:]))
    pos += length; k += 1
# bzip2: real dump bytes at several block sizes, concatenated streams, an empty stream, a cut one.
sample = open(mrt_files[0], "rb").read()[:40000]
rng = random.Random(7)
noise = bytes(rng.getrandbits(8) for _ in range(3000))
streams = [bz2.compress(sample, 1), bz2.compress(sample[:5000], 9) + bz2.compress(b"", 9), bz2.compress(noise, 1),
           bz2.compress(sample[:2000]) + bz2.compress(sample[2000:4000]), bz2.compress(sample[:8000])[:-7],
           bz2.compress(b"\x00" * 60000, 1)]
for i, blob in enumerate(streams):
    save("bzip2", i, blob[:65536])
# The report renderer: texts for every field (split at zero bytes), plain and hostile.
texts = ["PE1", "10.255.255.1", "02:00:00:00:00:01", "x |\r\n# All clear\n- item\n[l](http://x)", "|\u200d`\u0301[\u200d",
         "evil\u202etxt", "a\u2028## b", "<b>&amp;</b>", "***_~~\\|"]
for i in range(len(texts)):
    save("report", i, "\0".join(texts[i:] + texts[:i]).encode())
print(f"corpus: {sum(len(os.listdir(os.path.join(out, d))) for d in os.listdir(out))} seeds in {out}")
