"""A small writer of MaxMind DB files (binary format 2.0), for tests that need a GeoIP database
with known contents: MaxMind's City layout above all, which no package here ships.

Written from the format's specification (https://maxmind.github.io/MaxMind-DB/):

    file        := search tree, 16 zero bytes, data section, "\\xab\\xcd\\xefMaxMind.com", metadata
    search tree := node_count nodes of two records (left: the next bit is 0, right: it is 1),
                   24, 28 or 32 bits each, big-endian (28: the top 4 bits of each record share the
                   middle byte, the left's in its high nibble). A record < node_count is a node,
                   == node_count is "no data", > node_count points into the data section at
                   (record - node_count - 16).
    data        := typed fields: a control byte (3 type bits, 0 = extended: the next byte is
                   the type - 7; 5 size bits, 29/30/31 = 1/2/3 more size bytes, adding 29, 285,
                   65821), then the payload. Types: 1 pointer, 2 UTF-8 string, 3 double, 4 bytes,
                   5 uint16, 6 uint32, 7 map (size = pairs), 8 int32, 9 uint64, 10 uint128,
                   11 array (size = items), 14 boolean (size = the value), 15 float.
    metadata    := a map: node_count, record_size, ip_version, database_type, languages,
                   binary_format_major_version 2, binary_format_minor_version 0, build_epoch,
                   description.

An IPv6 database keeps IPv4 networks at ::a.b.c.d/(96 + prefix), where libmaxminddb looks
for them. Strings met again are written as pointers to their first copy (as MaxMind's files
do), so readers' pointer handling is exercised too, and identical records are stored once.

    w = Writer(database_type="GeoIP2-City")
    w.insert("81.2.69.0/24", city_record("GB", "London", subdivisions=[("ENG", "England")]))
    w.write(path)
"""

import ipaddress
import math
import struct
import time

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"

T_POINTER, T_STRING, T_DOUBLE, T_BYTES, T_UINT16, T_UINT32, T_MAP = 1, 2, 3, 4, 5, 6, 7
T_INT32, T_UINT64, T_UINT128, T_ARRAY, T_BOOLEAN, T_FLOAT = 8, 9, 10, 11, 14, 15


class UInt16(int):
    """An int to be written as uint16 (plain ints are uint32, or uint64 past 2**32 - 1)."""


class UInt32(int):
    pass


class UInt64(int):
    pass


class UInt128(int):
    pass


class Int32(int):
    pass


class Float32(float):
    """A float to be written as a 4-byte float (plain floats are doubles)."""


def _control(type_, size):
    if size < 29:
        first, extra = size, b""
    elif size < 29 + 256:
        first, extra = 29, bytes([size - 29])
    elif size < 285 + 65536:
        first, extra = 30, (size - 285).to_bytes(2, "big")
    elif size < 65821 + (1 << 24):
        first, extra = 31, (size - 65821).to_bytes(3, "big")
    else:
        raise ValueError(f"a field of {size} is past the format's limit")
    if type_ <= 7:
        return bytes([(type_ << 5) | first]) + extra
    return bytes([first, type_ - 7]) + extra


def _pointer(offset):
    if offset < 2048:
        return bytes([0x20 | (offset >> 8), offset & 0xFF])
    if offset < 2048 + (1 << 19):
        v = offset - 2048
        return bytes([0x28 | (v >> 16)]) + (v & 0xFFFF).to_bytes(2, "big")
    if offset < 526336 + (1 << 27):
        v = offset - 526336
        return bytes([0x30 | (v >> 24)]) + (v & 0xFFFFFF).to_bytes(3, "big")
    return bytes([0x38]) + offset.to_bytes(4, "big")


def _uint(type_, v, limit_bytes):
    if v < 0 or v >= 1 << (8 * limit_bytes):
        raise ValueError(f"{v} does not fit the type {type_}")
    payload = v.to_bytes((v.bit_length() + 7) // 8, "big")  # 0 is no bytes at all
    return _control(type_, len(payload)) + payload


class _Encoder:
    """Appends fields to one section; with `share`, strings met again become pointers."""

    def __init__(self, share):
        self.out = bytearray()
        self.share = share
        self.strings = {}

    def put(self, v):
        out = self.out
        if isinstance(v, bool):
            out += _control(T_BOOLEAN, int(v))
        elif isinstance(v, str):
            raw = v.encode("utf-8")
            at = self.strings.get(raw)
            if at is not None and len(_pointer(at)) < len(raw) + 1:
                out += _pointer(at)
                return
            if self.share:
                self.strings.setdefault(raw, len(out))
            out += _control(T_STRING, len(raw)) + raw
        elif isinstance(v, (bytes, bytearray)):
            out += _control(T_BYTES, len(v)) + bytes(v)
        elif isinstance(v, Float32):
            out += _control(T_FLOAT, 4) + struct.pack(">f", v)
        elif isinstance(v, float):
            if math.isnan(v):
                raise ValueError("NaN has no place in a GeoIP record")
            out += _control(T_DOUBLE, 8) + struct.pack(">d", v)
        elif isinstance(v, UInt16):
            out += _uint(T_UINT16, v, 2)
        elif isinstance(v, UInt32):
            out += _uint(T_UINT32, v, 4)
        elif isinstance(v, UInt64):
            out += _uint(T_UINT64, v, 8)
        elif isinstance(v, UInt128):
            out += _uint(T_UINT128, v, 16)
        elif isinstance(v, Int32):
            if not -(1 << 31) <= v < 1 << 31:
                raise ValueError(f"{v} is not an int32")
            payload = (v & 0xFFFFFFFF).to_bytes(4, "big").lstrip(b"\0") if v >= 0 else struct.pack(">i", v)
            out += _control(T_INT32, len(payload)) + payload
        elif isinstance(v, int):
            self.put(Int32(v) if v < 0 else UInt32(v) if v < 1 << 32 else UInt64(v))
        elif isinstance(v, dict):
            out += _control(T_MAP, len(v))
            for k, item in v.items():
                if not isinstance(k, str):
                    raise TypeError(f"map keys are strings, not {k!r}")
                self.put(k)
                self.put(item)
        elif isinstance(v, (list, tuple)):
            out += _control(T_ARRAY, len(v))
            for item in v:
                self.put(item)
        else:
            raise TypeError(f"no MaxMind DB type for {type(v).__name__}")


def _canonical(v):
    """A hashable form of a record that tells apart what encodes differently."""
    if isinstance(v, dict):
        return ("map", tuple((k, _canonical(x)) for k, x in v.items()))
    if isinstance(v, (list, tuple)):
        return ("array", tuple(_canonical(x) for x in v))
    return (type(v).__name__, v)


class _Node:
    __slots__ = ("kids",)

    def __init__(self):
        self.kids = [None, None]  # None: no data; _Node; or int: a data-section offset


class Writer:
    def __init__(self, database_type="GeoIP2-City", ip_version=6, record_size=None, languages=("en",),
                 description=None, build_epoch=None):
        if ip_version not in (4, 6):
            raise ValueError("ip_version is 4 or 6")
        if record_size not in (None, 24, 28, 32):
            raise ValueError("record_size is 24, 28 or 32")
        self.database_type = database_type
        self.ip_version = ip_version
        self.bits = 32 if ip_version == 4 else 128
        self.record_size = record_size
        self.languages = list(languages)
        self.description = description if description is not None else {"en": "footfall test database"}
        self.build_epoch = int(time.time()) if build_epoch is None else build_epoch
        self.root = _Node()
        self.data = _Encoder(share=True)
        self.records = {}

    def _network(self, net):
        n = ipaddress.ip_network(net, strict=True) if isinstance(net, str) else net
        if n.version == 4 and self.ip_version == 6:
            return int(n.network_address), n.prefixlen + 96
        if n.version == 6 and self.ip_version == 4:
            raise ValueError(f"{n}: an IPv4 database holds no IPv6 network")
        return int(n.network_address), n.prefixlen

    def insert(self, network, record):
        """Maps a network ("81.2.69.0/24", "2001:db8::/32") to a record (a dict, usually).
        The last insert wins over the addresses it covers: insert wide networks first and
        the narrower ones inside them after."""
        key = _canonical(record)
        offset = self.records.get(key)
        if offset is None:
            offset = len(self.data.out)
            self.data.put(record)
            self.records[key] = offset
        addr, plen = self._network(network)
        if plen == 0:
            raise ValueError("a database of one network for every address is not a useful test")
        node = self.root
        for depth in range(plen - 1):
            bit = (addr >> (self.bits - 1 - depth)) & 1
            kid = node.kids[bit]
            if not isinstance(kid, _Node):
                split = _Node()
                split.kids = [kid, kid]  # the wider network keeps both halves for now
                node.kids[bit] = kid = split
            node = kid
        node.kids[(addr >> (self.bits - plen)) & 1] = offset

    def _nodes(self):
        order, number, i = [self.root], {id(self.root): 0}, 0
        while i < len(order):
            for kid in order[i].kids:
                if isinstance(kid, _Node) and id(kid) not in number:
                    number[id(kid)] = len(order)
                    order.append(kid)
            i += 1
        return order, number

    def to_bytes(self):
        nodes, number = self._nodes()
        count = len(nodes)
        data = bytes(self.data.out)
        largest = count + 16 + len(data)
        size = self.record_size or next(s for s in (24, 28, 32) if largest < 1 << s)
        if largest >= 1 << size:
            raise ValueError(f"{largest} does not fit {size}-bit records")

        def value(kid):
            if kid is None:
                return count
            if isinstance(kid, _Node):
                return number[id(kid)]
            return count + 16 + kid

        tree = bytearray()
        for node in nodes:
            left, right = value(node.kids[0]), value(node.kids[1])
            if size == 24:
                tree += left.to_bytes(3, "big") + right.to_bytes(3, "big")
            elif size == 28:
                tree += ((left & 0xFFFFFF).to_bytes(3, "big") + bytes([((left >> 24) << 4) | (right >> 24)])
                         + (right & 0xFFFFFF).to_bytes(3, "big"))
            else:
                tree += left.to_bytes(4, "big") + right.to_bytes(4, "big")
        meta = _Encoder(share=False)
        meta.put({
            "binary_format_major_version": UInt16(2),
            "binary_format_minor_version": UInt16(0),
            "build_epoch": UInt64(self.build_epoch),
            "database_type": self.database_type,
            "description": dict(self.description),
            "ip_version": UInt16(self.ip_version),
            "languages": list(self.languages),
            "node_count": UInt32(count),
            "record_size": UInt16(size),
        })
        return bytes(tree) + b"\0" * 16 + data + METADATA_MARKER + bytes(meta.out)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.to_bytes())
        return path


def names(en, **other):
    """A names map: English and any others (de="…", zh_CN="…" for "zh-CN")."""
    out = {k.replace("_", "-"): v for k, v in other.items()}
    out["en"] = en
    return out


def city_record(country, city=None, subdivisions=(), geoname_id=1, continent=("EU", "Europe"),
                location=None, postal=None, eu=False):
    """A record shaped as MaxMind's GeoIP2/GeoLite2 City: country and registered_country with
    iso_code and names, subdivisions (a list of (iso_code or None, English name or None), the
    largest first), city.names, continent, location and postal.

    `country` is an ISO code, or (code, English name)."""
    code, cname = country if isinstance(country, tuple) else (country, country)
    rec = {
        "continent": {"code": continent[0], "geoname_id": UInt32(geoname_id + 1), "names": names(continent[1])},
        "country": {"geoname_id": UInt32(geoname_id + 2), "iso_code": code, "names": names(cname)},
        "location": location or {"accuracy_radius": UInt16(100), "latitude": 51.5142, "longitude": -0.0931,
                                 "time_zone": "Europe/London"},
        "registered_country": {"geoname_id": UInt32(geoname_id + 2), "iso_code": code, "names": names(cname)},
    }
    if eu:
        rec["country"]["is_in_european_union"] = True
        rec["registered_country"]["is_in_european_union"] = True
    if city is not None:
        rec["city"] = {"geoname_id": UInt32(geoname_id), "names": city if isinstance(city, dict) else names(city)}
    if postal is not None:
        rec["postal"] = {"code": postal}
    if subdivisions:
        subs = []
        for i, (iso, name) in enumerate(subdivisions):
            s = {"geoname_id": UInt32(geoname_id + 10 + i)}
            if iso is not None:
                s["iso_code"] = iso
            if name is not None:
                s["names"] = names(name)
            subs.append(s)
        rec["subdivisions"] = subs
    return rec
