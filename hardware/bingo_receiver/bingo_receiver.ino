// bingo_receiver: receives a quantised model over serial, keeps it in EEPROM, and runs it.
//
// Flash this sketch once (Arduino IDE or arduino-cli, board "Arduino Uno", "Nano" or "Mega 2560"); after
// that every model is sent as data with `bingo-kit flash` -- no recompiling. Everything on the wire and
// in EEPROM is defined in hardware/PROTOCOL.md; the section numbers below (§) point into it.
// Only the Arduino core and its EEPROM library are used.
#include <Arduino.h>
#include <EEPROM.h>
#include <avr/interrupt.h>
#include <util/crc16.h>

#include "model.h"
#include "protocol.h"

// ---- state ------------------------------------------------------------------------------------------
static uint8_t model[MODEL_CAPACITY];  // the one model buffer: the active model, or an upload in progress
static bool model_active = false;      // model[] holds a verified model (§5.1 offset 12)
static uint16_t model_length = 0;
static uint16_t model_crc = 0;

static bool uploading = false;  // §5.2: while true, model[] is being overwritten
static uint16_t upload_length = 0, upload_crc = 0, upload_received = 0, upload_running_crc = 0;
static uint32_t last_frame_ms = 0;

static uint8_t input[WIDEST_LAYER];  // §5.3: PREDICT input, staged across frames
static uint8_t hidden_a[WIDEST_LAYER], hidden_b[WIDEST_LAYER];
static int32_t accumulators[WIDEST_LAYER];  // one layer's rows; after the last layer, the logits

static uint8_t frame[3 + MAX_REQUEST_PAYLOAD + 2];  // §4.1 request being received
static uint8_t frame_got = 0;  // bytes of the frame so far; 0 = hunting for a sync byte
// §4.3: after a length above 59 the rest of that frame is skipped until the line is quiet for 50 ms, so
// that a 0xA5 in its payload cannot start a phantom frame (and a second answer to one bad frame).
#define FRAME_SKIPPING 0xFF
static uint16_t frame_crc = 0;  // running CRC of the frame so far, so a complete frame is checked at once
static uint32_t frame_last_byte_ms = 0;

// ---- CPU cycles: Timer1 at clk/1, plus a count of its overflows ----------------------------------------
static volatile uint16_t timer1_overflows = 0;
ISR(TIMER1_OVF_vect) { timer1_overflows++; }

static uint32_t cpu_cycles() {
  const uint8_t sreg = SREG;
  cli();
  const uint16_t low = TCNT1;
  uint16_t high = timer1_overflows;
  if ((TIFR1 & _BV(TOV1)) && low < 0x8000) high++;  // overflowed after cli(), ISR not yet run
  SREG = sreg;
  return ((uint32_t)high << 16) | low;
}

static uint16_t crc16(uint16_t crc, const uint8_t *data, uint16_t n) {  // §1: CRC-16/CCITT-FALSE
  while (n--) crc = _crc_xmodem_update(crc, *data++);
  return crc;
}

static uint16_t free_ram() {  // §5.1 offset 10: the gap between heap and stack
  extern char __heap_start, *__brkval;
  char top;
  return (uint16_t)(&top - (__brkval ? __brkval : &__heap_start));
}

// ---- responses (§4.2), streamed with a running CRC ------------------------------------------------------
static uint16_t reply_crc;

static void reply_byte(uint8_t b) {
  reply_crc = _crc_xmodem_update(reply_crc, b);
  Serial.write(b);
}
static void reply_u16(uint16_t v) { reply_byte(v & 0xFF); reply_byte(v >> 8); }
static void reply_u32(uint32_t v) { reply_u16(v & 0xFFFF); reply_u16(v >> 16); }

// receive_byte puts the sync byte on the wire the moment a frame is complete (every complete frame gets
// exactly one answer, and every answer starts with it), so the answer's first bit leaves while the board
// still checks the CRC and runs the command: the stop-and-wait host waits that much less per request.
static bool reply_sync_sent = false;

static void reply_begin(uint8_t command, uint8_t status, uint8_t payload_length) {
  if (!reply_sync_sent) Serial.write(RESPONSE_SYNC);
  reply_sync_sent = false;
  reply_crc = 0xFFFF;
  reply_byte(command);
  reply_byte(status);
  reply_byte(payload_length);
}
static void reply_end() {
  const uint16_t crc = reply_crc;
  Serial.write(crc & 0xFF);
  Serial.write(crc >> 8);
}
static void reply_status(uint8_t command, uint8_t status) {
  reply_begin(command, status, 0);
  reply_end();
}

// ---- model persistence (§3) ----------------------------------------------------------------------------
// EEPROM.get/put: little-endian on AVR, and put() writes only the bytes that change (update()).
static uint16_t eeprom_u16(int address) { uint16_t value; return EEPROM.get(address, value); }
static void eeprom_put_u16(int address, uint16_t value) { EEPROM.put(address, value); }

// Boot, and every upload that does not end in a good COMMIT: make the EEPROM model active again, or none.
static void load_model_from_eeprom() {
  model_active = false;
  model_length = 0;
  model_crc = 0;
  const uint16_t length = eeprom_u16(0);
  if (length == 0 || length == EEPROM_EMPTY_LENGTH || length > MODEL_CAPACITY) return;
  const uint16_t stored_crc = eeprom_u16(2);
  for (uint16_t i = 0; i < length; i++) model[i] = EEPROM.read(EEPROM_HEADER_BYTES + i);
  if (crc16(0xFFFF, model, length) != stored_crc || check_blob(model, length) != OK) return;  // corrupt: no model
  prepare_for_inference(model, (uint8_t *)accumulators);  // dense weights' RAM layout (model.h)
  model_length = length;
  model_crc = stored_crc;
  model_active = true;
}

// §3 write order: invalidate, blob, CRC, real length, then read everything back.
static bool store_model_in_eeprom(uint16_t length, uint16_t crc) {
  eeprom_put_u16(0, EEPROM_EMPTY_LENGTH);
  for (uint16_t i = 0; i < length; i++) EEPROM.update(EEPROM_HEADER_BYTES + i, model[i]);
  eeprom_put_u16(2, crc);
  eeprom_put_u16(0, length);
  if (eeprom_u16(0) != length || eeprom_u16(2) != crc) return false;
  for (uint16_t i = 0; i < length; i++)
    if (EEPROM.read(EEPROM_HEADER_BYTES + i) != model[i]) return false;
  return true;
}

static void end_upload_restoring() {  // §5.2: a broken upload never loses the previous model
  if (!uploading) return;
  uploading = false;
  load_model_from_eeprom();
}

// ---- commands (§5) ---------------------------------------------------------------------------------------
static void do_identify() {  // §5.1
  reply_begin(CMD_IDENTIFY, OK, IDENTIFY_ANSWER_BYTES);
  for (uint8_t i = 0; i < 4; i++) reply_byte(BLOB_MAGIC[i]);
  reply_byte(FIRMWARE_MAJOR);
  reply_byte(FIRMWARE_MINOR);
  reply_byte(BLOB_FORMAT_VERSION);
  reply_byte(BOARD_CODE);
  reply_u16(MODEL_CAPACITY);
  reply_u16(free_ram());
  reply_byte(model_active ? 1 : 0);  // 0 during an upload: model[] is being overwritten (§5.1)
  reply_u16(model_active ? model_length : 0);
  reply_u16(model_active ? model_crc : 0);
  reply_byte(WIDEST_LAYER);
  reply_byte(MAX_REQUEST_PAYLOAD);
  reply_byte(uploading ? 1 : 0);
  reply_u16(F_CPU / 1000);
  reply_end();
}

static void do_upload_begin(const uint8_t *payload, uint8_t length) {
  if (length != 4) return reply_status(CMD_UPLOAD_BEGIN, E_BAD_LENGTH);
  const uint16_t blob_length = read_u16(payload);
  if (blob_length == 0) return reply_status(CMD_UPLOAD_BEGIN, E_BAD_LENGTH);
  if (blob_length > MODEL_CAPACITY) {
    reply_begin(CMD_UPLOAD_BEGIN, E_TOO_BIG, 2);
    reply_u16(MODEL_CAPACITY);
    return reply_end();
  }
  uploading = true;
  model_active = false;  // model[] is about to be overwritten
  upload_length = blob_length;
  upload_crc = read_u16(payload + 2);
  upload_received = 0;
  upload_running_crc = 0xFFFF;
  reply_begin(CMD_UPLOAD_BEGIN, OK, 3);
  reply_u16(MODEL_CAPACITY);
  reply_byte(MAX_REQUEST_PAYLOAD);
  reply_end();
}

static void do_upload_chunk(const uint8_t *payload, uint8_t length) {
  if (!uploading) return reply_status(CMD_UPLOAD_CHUNK, E_NOT_UPLOADING);
  if (length == 0) return reply_status(CMD_UPLOAD_CHUNK, E_BAD_LENGTH);
  if ((uint32_t)upload_received + length > upload_length) {
    end_upload_restoring();
    return reply_status(CMD_UPLOAD_CHUNK, E_OVERFLOW);
  }
  const uint16_t offset = upload_received;
  upload_received += length;
  // Answer first and copy while the answer is on the wire: the host waits for it (stop-and-wait).
  reply_begin(CMD_UPLOAD_CHUNK, OK, 2);
  reply_u16(upload_received);
  reply_end();
  memcpy(model + offset, payload, length);
  upload_running_crc = crc16(upload_running_crc, payload, length);
}

static uint8_t commit_checks() {  // §5.2, in the spec's order
  if (upload_received != upload_length) return E_INCOMPLETE;
  if (upload_running_crc != upload_crc) return E_CHECKSUM;
  return check_blob(model, upload_length);
}

static void do_upload_commit(uint8_t length) {
  if (!uploading) return reply_status(CMD_UPLOAD_COMMIT, E_NOT_UPLOADING);
  uint8_t status = length ? E_BAD_LENGTH : commit_checks();
  uint16_t write_ms = 0;
  if (status == OK) {
    const uint32_t started = millis();
    status = store_model_in_eeprom(upload_length, upload_crc) ? OK : E_EEPROM;
    write_ms = millis() - started;
  }
  if (status != OK) {
    end_upload_restoring();  // E_EEPROM included: whatever EEPROM now holds decides, verified
    return reply_status(CMD_UPLOAD_COMMIT, status);
  }
  uploading = false;
  prepare_for_inference(model, (uint8_t *)accumulators);  // after the EEPROM copy, which keeps §2 exactly
  model_active = true;
  model_length = upload_length;
  model_crc = upload_crc;
  reply_begin(CMD_UPLOAD_COMMIT, OK, 6);
  reply_u16(model_crc);
  reply_u16(model_length);
  reply_u16(write_ms);
  reply_end();
}

static void do_predict(const uint8_t *payload, uint8_t length) {  // §5, §5.3
  if (!model_active) return reply_status(CMD_PREDICT, E_NO_MODEL);
  const uint8_t n_inputs = model[6];
  const uint8_t offset = payload[0], count = length - 1;
  if (length < 2 || (uint16_t)offset + count > n_inputs) return reply_status(CMD_PREDICT, E_BAD_LENGTH);
  memcpy(input + offset, payload + 1, count);
  if (offset + count < n_inputs) return reply_status(CMD_PREDICT, OK);  // staged, more to come

  const uint8_t n_layers = model[5], classes = model[6 + n_layers];
  // The millis() tick (an ~80-cycle interrupt every 1024 cycles) pauses while the network runs, so the
  // count is the network's own cost; millis() just lags by about one ms per prediction.
  const uint8_t timer0_interrupts = TIMSK0;
  TIMSK0 = 0;
  const uint32_t started = cpu_cycles();
  const uint8_t label = run_model(model, input, hidden_a, hidden_b, accumulators);
  const uint32_t cycles = cpu_cycles() - started;
  TIMSK0 = timer0_interrupts;
  reply_begin(CMD_PREDICT, OK, 6 + 4 * classes);
  reply_byte(label);
  reply_byte(classes);
  reply_u32(cycles);
  for (uint8_t c = 0; c < classes; c++) reply_u32((uint32_t)accumulators[c]);
  reply_end();
}

static void execute_frame(uint8_t command, const uint8_t *payload, uint8_t length) {
  last_frame_ms = millis();
  // §5.2: any command but CHUNK/COMMIT ends an upload first (restoring the old model). IDENTIFY only reads,
  // so it does not: a host reconnecting mid-upload can see the upload flag (§5.1 offset 19).
  if (uploading && command != CMD_UPLOAD_CHUNK && command != CMD_UPLOAD_COMMIT && command != CMD_IDENTIFY)
    end_upload_restoring();
  switch (command) {
    case CMD_IDENTIFY: return do_identify();
    case CMD_UPLOAD_BEGIN: return do_upload_begin(payload, length);
    case CMD_UPLOAD_CHUNK: return do_upload_chunk(payload, length);
    case CMD_UPLOAD_COMMIT: return do_upload_commit(length);
    case CMD_UPLOAD_ABORT: return reply_status(CMD_UPLOAD_ABORT, OK);
    case CMD_PREDICT: return do_predict(payload, length);
    default: return reply_status(command, E_UNKNOWN_COMMAND);
  }
}

// ---- framing (§4.1, §4.3) ---------------------------------------------------------------------------------
static void receive_byte(uint8_t b) {
  if (frame_got == FRAME_SKIPPING) return;
  if (frame_got == 0) {  // hunting: bytes before a sync byte are discarded
    if (b == REQUEST_SYNC) {
      frame[frame_got++] = b;
      frame_crc = 0xFFFF;
    }
    return;
  }
  frame[frame_got++] = b;
  if (frame_got <= 3) frame_crc = _crc_xmodem_update(frame_crc, b);  // command, length
  if (frame_got == 3 && b > MAX_REQUEST_PAYLOAD) {
    frame_got = FRAME_SKIPPING;
    return reply_status(CMD_NONE, E_FRAME_LENGTH);
  }
  if (frame_got < 3) return;
  const uint8_t length = frame[2];
  if (frame_got > 3 && frame_got <= 3 + length) frame_crc = _crc_xmodem_update(frame_crc, b);  // payload
  if (frame_got < 3 + length + 2) return;
  Serial.write(RESPONSE_SYNC);  // the answer's sync byte, now (see reply_begin)
  reply_sync_sent = true;
  frame_got = 0;
  if (read_u16(frame + 3 + length) != frame_crc) return reply_status(CMD_NONE, E_FRAME_CRC);
  execute_frame(frame[1], frame + 3, length);
}

void setup() {
  Serial.begin(BAUD_RATE);
  // Timer1 free-running at the CPU clock: PREDICT reports exact cycles (pins 9/10 lose PWM; unused here).
  TCCR1A = 0;
  TCCR1B = _BV(CS10);
  TIMSK1 = _BV(TOIE1);
  load_model_from_eeprom();  // §3: verified, or "no model"
}

void loop() {
  while (Serial.available() > 0) {
    receive_byte((uint8_t)Serial.read());
    frame_last_byte_ms = millis();
  }
  const uint32_t now = millis();
  if (frame_got > 0 && now - frame_last_byte_ms > FRAME_BYTE_TIMEOUT_MS) {
    if (frame_got != FRAME_SKIPPING) reply_status(CMD_NONE, E_FRAME_TIMEOUT);  // a skipped frame was answered
    frame_got = 0;
  }
  if (uploading && now - last_frame_ms > UPLOAD_IDLE_TIMEOUT_MS) end_upload_restoring();
}
