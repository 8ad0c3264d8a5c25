// A bounded, scan-resistant cache of blocks and resolved paths, and the read-through block service. See ../shared/DESIGN.md, "Content cache and block service".
import Blocks
