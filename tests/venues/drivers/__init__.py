"""One driver per venue with an emulator: what the conformance scenarios need to know of it."""

from __future__ import annotations

from tests.venues.drivers.base import Driver
from tests.venues.drivers.firstock import DRIVER as FIRSTOCK
from tests.venues.drivers.gopax import DRIVER as GOPAX
from tests.venues.drivers.gopocket import DRIVER as GOPOCKET
from tests.venues.drivers.samco import DRIVER as SAMCO
from tests.venues.drivers.smallcase import DRIVER as SMALLCASE

DRIVERS: tuple[Driver, ...] = (GOPAX, SMALLCASE, SAMCO, FIRSTOCK, GOPOCKET)
