"""The registry's vehicle parameters: engine and movement, power, GSM, inputs and outputs,
sensors, driving behaviour, and frame integrity."""

from __future__ import annotations

from typing import Final

from telebench.params.model import GT6, OSM, TEL, WIA, Param, avl_io, param, raw_field

__all__ = ["VEHICLE"]

VEHICLE: Final[tuple[Param, ...]] = (
    # --- engine, movement, vehicle ---------------------------------------------------------
    param(
        "engine.ignition.status",
        "boolean",
        None,
        "Ignition (ACC) is on",
        avl_io(239, 1),
        raw_field(GT6, "terminal info bit 1 (ACC high)"),
        raw_field(OSM, "ignition"),
        raw_field(WIA, "param ign"),
    ),
    param(
        "movement.status",
        "boolean",
        None,
        "The device detects movement",
        avl_io(240, 1),
        raw_field(OSM, "location.is_moving"),
    ),
    param(
        "vehicle.mileage",
        "number",
        "km",
        "Total odometer",
        avl_io(16, 4, 1000),
        raw_field(GT6, "0x22 mileage (m)", 1000),
        raw_field(OSM, "odometer (m)", 1000),
        raw_field(WIA, "param odometer (km)"),
    ),
    param("segment.vehicle.mileage", "number", "km", "Trip odometer", avl_io(199, 4, 1000)),
    param("vehicle.vin", "string", None, "Vehicle identification number", avl_io(256, 17)),
    param(
        "engine.blocked.status",
        "boolean",
        None,
        "Oil and electricity are cut",
        raw_field(GT6, "terminal info bit 7"),
    ),
    param(
        "armed.status",
        "boolean",
        None,
        "Defence (alarm arming) is active",
        raw_field(GT6, "terminal info bit 0"),
    ),
    param(
        "data.mode.enum",
        "integer",
        None,
        "0 home stop, 1 home moving, 2 roaming stop, 3 roaming moving, 4/5 unknown",
        avl_io(80, 1),
    ),
    param(
        "sleep.mode.enum",
        "integer",
        None,
        "0 no sleep, 1 GPS, 2 deep, 3 online, 4 ultra",
        avl_io(200, 1),
    ),
    # --- power -----------------------------------------------------------------------------
    param(
        "external.powersource.voltage",
        "number",
        "V",
        "External (vehicle) supply voltage",
        avl_io(66, 2, 1000),
        raw_field(WIA, "param pwr_ext"),
    ),
    param(
        "battery.voltage",
        "number",
        "V",
        "Internal battery voltage",
        avl_io(67, 2, 1000),
        raw_field(WIA, "param pwr_int"),
    ),
    param("battery.current", "number", "A", "Internal battery current", avl_io(68, 2, 1000)),
    param(
        "battery.level",
        "number",
        "%",
        "Internal battery level",
        avl_io(113, 1),
        raw_field(OSM, "batt / battery.level×100"),
        raw_field(WIA, "param battery"),
    ),
    param(
        "battery.level.enum",
        "integer",
        None,
        "Voltage level 0 (no power) .. 6 (very high)",
        raw_field(GT6, "voltage level"),
    ),
    param(
        "battery.charging.status",
        "boolean",
        None,
        "The battery is charging",
        raw_field(GT6, "terminal info bit 2"),
        raw_field(OSM, "charge / battery.is_charging"),
    ),
    # --- GSM -------------------------------------------------------------------------------
    param(
        "gsm.signal.level",
        "integer",
        None,
        "GSM signal level (0-5 Teltonika, 0-4 GT06)",
        avl_io(21, 1),
        raw_field(GT6, "GSM signal level"),
    ),
    param("gsm.cellid", "integer", None, "GSM cell id", avl_io(205, 2), raw_field(GT6, "cell ID")),
    param(
        "gsm.lac", "integer", None, "GSM location area code", avl_io(206, 2), raw_field(GT6, "LAC")
    ),
    param("gsm.mcc", "integer", None, "Mobile country code", raw_field(GT6, "MCC")),
    param("gsm.mnc", "integer", None, "Mobile network code", raw_field(GT6, "MNC")),
    param("gsm.operator.code", "integer", None, "Active operator MCC+MNC", avl_io(241, 4)),
    param("gsm.sim.iccid.1", "integer", None, "First half of the SIM ICCID", avl_io(11, 8)),
    param("gsm.sim.iccid.2", "integer", None, "Second half of the SIM ICCID", avl_io(14, 8)),
    # --- inputs and outputs ----------------------------------------------------------------
    param(
        "din",
        "integer",
        None,
        "Digital inputs bitmask (bit 0 = input 1)",
        raw_field(TEL, "digital inputs AVL 1-3 combined"),
        raw_field(WIA, "inputs"),
    ),
    param("din.1", "boolean", None, "Digital input 1", avl_io(1, 1)),
    param("din.2", "boolean", None, "Digital input 2", avl_io(2, 1)),
    param("din.3", "boolean", None, "Digital input 3", avl_io(3, 1)),
    param(
        "dout",
        "integer",
        None,
        "Digital outputs bitmask (bit 0 = output 1)",
        raw_field(TEL, "digital outputs AVL 179-180 combined"),
        raw_field(WIA, "outputs"),
    ),
    param("dout.1", "boolean", None, "Digital output 1", avl_io(179, 1)),
    param("dout.2", "boolean", None, "Digital output 2", avl_io(180, 1)),
    param(
        "ain.1",
        "number",
        "V",
        "Analog input 1",
        avl_io(9, 2, 1000),
        raw_field(WIA, "adc, 1st value"),
    ),
    param(
        "ain.2",
        "number",
        "V",
        "Analog input 2",
        avl_io(10, 2, 1000),
        raw_field(WIA, "adc, 2nd value"),
    ),
    param("ain.3", "number", "V", "Analog input 3", raw_field(WIA, "adc, 3rd value")),
    param("ibutton.code", "string", None, "Driver key (iButton) code", raw_field(WIA, "ibutton")),
    param(
        "driver.message", "string", None, "Text message from the driver", raw_field(WIA, "#M# text")
    ),
    # --- sensors ---------------------------------------------------------------------------
    param(
        "x.acceleration", "number", "g", "Accelerometer X axis", avl_io(17, 2, 1000, signed=True)
    ),
    param(
        "y.acceleration", "number", "g", "Accelerometer Y axis", avl_io(18, 2, 1000, signed=True)
    ),
    param(
        "z.acceleration", "number", "g", "Accelerometer Z axis", avl_io(19, 2, 1000, signed=True)
    ),
    param(
        "sensor.temperature.1",
        "number",
        "°C",
        "Dallas temperature sensor 1",
        avl_io(72, 4, 10, signed=True),
    ),
    param(
        "sensor.temperature.2",
        "number",
        "°C",
        "Dallas temperature sensor 2",
        avl_io(73, 4, 10, signed=True),
    ),
    param(
        "sensor.temperature.3",
        "number",
        "°C",
        "Dallas temperature sensor 3",
        avl_io(74, 4, 10, signed=True),
    ),
    param("ble.beacons.raw", "string", None, "Raw BLE beacon block (hex)", avl_io(385, 0)),
    # --- driving behaviour -----------------------------------------------------------------
    param("trip.event", "integer", None, "Trip start/stop event", avl_io(250, 1)),
    param("idling.event", "integer", None, "Idling event", avl_io(251, 1)),
    param("unplug.event", "integer", None, "External power unplugged event", avl_io(252, 1)),
    param("towing.event", "integer", None, "Towing event", avl_io(246, 1)),
    param("crash.event", "integer", None, "Crash event", avl_io(247, 1)),
    param("jamming.event", "integer", None, "GSM jamming event", avl_io(249, 1)),
    param(
        "green.driving.type.enum",
        "integer",
        None,
        "1 acceleration, 2 braking, 3 cornering",
        avl_io(253, 1),
    ),
    param("green.driving.value", "number", "g", "Harsh driving magnitude", avl_io(254, 1, 10)),
    param("overspeeding.speed", "number", "km/h", "Speed at over-speeding event", avl_io(255, 1)),
    # --- integrity -------------------------------------------------------------------------
    param(
        "checksum.valid",
        "boolean",
        None,
        "False when a frame with a bad CRC was accepted with a flag (absent when it was valid)",
    ),
)
