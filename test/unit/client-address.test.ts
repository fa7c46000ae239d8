import { describe, expect, it } from "vitest";
import { addressKey } from "../../src/lib/client-address.ts";

describe("rate-limit keys of client addresses", () => {
  it("counts an IPv6 client by its /64, however the address is written", () => {
    const key = "2001:db8:abcd:12::/64";
    for (const address of [
      "2001:db8:abcd:12::1",
      "2001:0db8:abcd:0012:ffff:ffff:ffff:ffff",
      "2001:DB8:ABCD:12:1:2:3:4",
      "2001:db8:abcd:12::192.0.2.1",
      "fe80::1%eth0".replace("fe80::1", "2001:db8:abcd:12::9"),
    ]) {
      expect(addressKey(address), address).toBe(key);
    }
    expect(addressKey("2001:db8:abcd:13::1")).toBe("2001:db8:abcd:13::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
  });

  it("counts IPv4, also mapped into IPv6, by the address", () => {
    expect(addressKey("192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("::ffff:192.0.2.7")).toBe("192.0.2.7");
    expect(addressKey("::ffff:c000:207")).toBe("192.0.2.7");
  });

  it("keeps anything else as given", () => {
    expect(addressKey("not-an-address")).toBe("not-an-address");
    expect(addressKey("1::2::3")).toBe("1::2::3");
    expect(addressKey("1:2:3:4:5:6:7:8:9")).toBe("1:2:3:4:5:6:7:8:9");
  });
});
