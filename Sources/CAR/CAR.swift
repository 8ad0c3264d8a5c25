// CAR v1 and v2: content-addressed archives. Format: formats/car.md.
import Multiformats
