"""pyserial back ends of the kit's own (see pyserial's `serial_for_url` and `protocol_handler_packages`): the board
code keeps talking to one Serial interface, whatever carries its bytes."""
