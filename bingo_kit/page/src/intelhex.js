// Intel HEX (what avr-objcopy writes, and what avrdude and Optiboot uploads carry) into a flash image.
// avr8js leaves loading to its user; its own demos parse the format by hand too. Only the record types an AVR
// .hex uses are accepted: 00 data, 01 end, 02 segment and 04 linear addresses (03/05 start addresses ignored).
export function loadIntelHex(text, flash) {
  let base = 0;
  for (const [index, raw] of text.split(/\r?\n/).entries()) {
    const line = raw.trim();
    if (!line) continue;
    if (line[0] !== ":" || line.length < 11 || line.length % 2 === 0) {
      throw new Error(`line ${index + 1} of the firmware is not an Intel HEX record`);
    }
    const bytes = new Uint8Array((line.length - 1) / 2);
    for (let i = 0; i < bytes.length; i++) bytes[i] = parseInt(line.substr(1 + 2 * i, 2), 16);
    const count = bytes[0];
    if (bytes.length !== count + 5) throw new Error(`line ${index + 1} of the firmware has the wrong length`);
    if (bytes.reduce((sum, value) => (sum + value) & 0xff, 0) !== 0) {
      throw new Error(`line ${index + 1} of the firmware fails its checksum`);
    }
    const address = (bytes[1] << 8) | bytes[2];
    const type = bytes[3];
    const data = bytes.subarray(4, 4 + count);
    if (type === 0x00) {
      if (base + address + count > flash.length) throw new Error("the firmware does not fit this chip's flash");
      flash.set(data, base + address);
    } else if (type === 0x01) {
      return;
    } else if (type === 0x02) {
      base = ((data[0] << 8) | data[1]) * 16;
    } else if (type === 0x04) {
      base = ((data[0] << 8) | data[1]) << 16;
    }
  }
}
