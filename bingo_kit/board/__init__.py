"""Everything that talks to a board, one way down (each module imports only the ones above it in this list):

    protocol    the numbers of hardware/PROTOCOL.md: the twin of hardware/bingo_receiver/protocol.h
    answers     what a board says (IDENTIFY, an upload's result, PREDICT) as Python objects
    ports       which serial ports this computer has, and which look like an Arduino
    stk500      the bootloaders' languages (v1: Uno, Nano; v2: Mega) over any pyserial-like port: write, read back
    firmware    the receiver as a program for the chip: the shipped .hex per board (built with avr-gcc here)
    simavr      the receiver (or a blank Optiboot Uno) in simavr, behind a pty
    board       BingoBoard: handshake, upload, predict, typed errors, over a serial port or a pty
    agreement   does the board agree with the laptop's int8 reference?
    install     put the receiver on a board through its bootloader (avrdude, or stk500)

Nothing here imports the widgets, the lessons or the CLI; this file imports nothing, so `bingo_kit.boards` can
read the protocol's numbers without loading a serial library.
"""
