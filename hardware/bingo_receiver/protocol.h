// Constants of the BINGO wire and blob protocol, version 1. Every number here is defined in
// hardware/PROTOCOL.md (section given beside it); change the document first, then this file.
// Its Python twin is bingo_kit/protocol.py, with the same names; tests/test_protocol_twin.py reads this
// file and fails if the two differ.
#ifndef BINGO_PROTOCOL_H
#define BINGO_PROTOCOL_H

#include <stdint.h>

#define FIRMWARE_MAJOR 1
#define FIRMWARE_MINOR 0

// §4 frames
#define BAUD_RATE 115200             // §4: 8 data bits, no parity, 1 stop bit
#define REQUEST_SYNC 0xA5            // §4.1
#define RESPONSE_SYNC 0x5A           // §4.2
#define MAX_REQUEST_PAYLOAD 59       // §4.1: 3 header + 59 + 2 CRC = 64 bytes (the core's RX ring holds 63: §4.1)
#define FRAME_BYTE_TIMEOUT_MS 50     // §4.3
#define UPLOAD_IDLE_TIMEOUT_MS 2000  // §5.2
#define PREDICT_MAX_LOGITS 62        // §5.2: 6 + 4*62 = 254 bytes, the PREDICT answer fits one response

#define IDENTIFY_ANSWER_BYTES 22     // §5.1

// §5 commands
#define CMD_NONE 0x00  // §4.2: answers to frames whose command is unknown (framing errors)
#define CMD_IDENTIFY 0x49
#define CMD_UPLOAD_BEGIN 0x42
#define CMD_UPLOAD_CHUNK 0x43
#define CMD_UPLOAD_COMMIT 0x4D
#define CMD_UPLOAD_ABORT 0x41
#define CMD_PREDICT 0x50

// §6 status codes
enum Status : uint8_t {
  OK = 0x00,
  E_FRAME_CRC = 0x01,
  E_FRAME_LENGTH = 0x02,
  E_FRAME_TIMEOUT = 0x03,
  E_UNKNOWN_COMMAND = 0x04,
  E_BAD_LENGTH = 0x05,
  E_TOO_BIG = 0x06,
  E_NOT_UPLOADING = 0x07,
  E_OVERFLOW = 0x08,
  E_INCOMPLETE = 0x09,
  E_CHECKSUM = 0x0A,
  E_BAD_MAGIC = 0x0B,
  E_BAD_VERSION = 0x0C,
  E_BAD_MODEL = 0x0D,
  E_TOO_WIDE = 0x0E,
  E_NO_MODEL = 0x0F,
  E_EEPROM = 0x10,
};

// §2 blob
#define BLOB_MAGIC "BNGO"            // §2.1
#define BLOB_FORMAT_VERSION 1        // §2.1
#define BLOB_MAX_LAYERS 4            // §2.1
#define BLOB_MAX_SHIFT 31            // §2.2
#define ENCODING_DENSE 0
#define ENCODING_BITMAP 1
#define ENCODING_INDEX_LIST 2

// §3 EEPROM record: u16 length, u16 CRC, blob
#define EEPROM_HEADER_BYTES 4
#define EEPROM_EMPTY_LENGTH 0xFFFF

// What this board can hold (§3 capacity, §5.1 "widest layer supported").
#if defined(__AVR_ATmega2560__)
#define BOARD_CODE 2
#define MODEL_CAPACITY 4092
#define WIDEST_LAYER 255
#elif defined(__AVR_ATmega328P__)
#define BOARD_CODE 1
#define MODEL_CAPACITY 1020
// 2 KB of SRAM: the 1020-byte model buffer, 3 activation buffers and the logits must leave room for the stack.
#define WIDEST_LAYER 64
#else
#define BOARD_CODE 0
#define MODEL_CAPACITY (E2END + 1 - EEPROM_HEADER_BYTES)
#define WIDEST_LAYER 64
#endif

#endif
