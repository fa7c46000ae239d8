/**
 * The rate-limit key of a client's address. An IPv6 client is counted by its /64: one subscriber
 * usually holds a whole /64 and can pick a new address from it for every request. IPv4 (also when
 * mapped into IPv6) and anything unparseable count by the address as given.
 */
export function addressKey(address: string): string {
  const ip = address.trim().toLowerCase().replace(/%.*$/, "");
  const mapped = /^(?:0{0,4}:){0,5}(?:0{0,4}:)?ffff:(\d{1,3}(?:\.\d{1,3}){3})$/.exec(
    ip.replace(/^::/, "0::"),
  );
  if (mapped?.[1]) return mapped[1];
  const hextets = expandIpv6(ip);
  if (!hextets) return address.trim();
  // IPv4-mapped written in hex (::ffff:c000:207) is the IPv4 client 192.0.2.7.
  if (hextets.slice(0, 5).every((h) => h === "0") && hextets[5] === "ffff") {
    const [high, low] = [
      Number.parseInt(hextets[6] as string, 16),
      Number.parseInt(hextets[7] as string, 16),
    ];
    return [high >> 8, high & 255, low >> 8, low & 255].join(".");
  }
  return `${hextets.slice(0, 4).join(":")}::/64`;
}

/** The eight hextets of an IPv6 address (without leading zeros), or null if it is not one. */
function expandIpv6(ip: string): string[] | null {
  if (!ip.includes(":") || !/^[0-9a-f:.]+$/.test(ip)) return null;
  const halves = ip.split("::");
  if (halves.length > 2) return null;
  const part = (text: string | undefined) => (text ? text.split(":") : []);
  const [head, tail] = [part(halves[0]), part(halves[1])];
  // An embedded IPv4 tail (e.g. 64:ff9b::192.0.2.1) takes two hextets.
  const last = tail.length ? tail : head;
  const v4 = last[last.length - 1]?.includes(".") ? last.pop() : undefined;
  if (v4) {
    const octets = v4.split(".").map(Number);
    if (octets.length !== 4 || octets.some((o) => !Number.isInteger(o) || o > 255)) return null;
    last.push(((octets[0] as number) * 256 + (octets[1] as number)).toString(16));
    last.push(((octets[2] as number) * 256 + (octets[3] as number)).toString(16));
  }
  const missing = 8 - head.length - tail.length;
  if (halves.length === 1 ? missing !== 0 : missing < 1) return null;
  const hextets = [...head, ...Array(halves.length === 2 ? missing : 0).fill("0"), ...tail];
  if (!hextets.every((h) => /^[0-9a-f]{1,4}$/.test(h))) return null;
  return hextets.map((h) => h.replace(/^0+(?=.)/, ""));
}
