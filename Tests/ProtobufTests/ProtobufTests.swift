import Protobuf
import Testing

/// The reader under test throws ProtobufError itself.
typealias Reader = ProtobufReader<ProtobufError>

/// The error `body` throws reading `bytes`, or nil when it succeeds.
func failure(_ bytes: [UInt8], options: ProtobufOptions = .standard,
             _ body: (inout Reader) throws(ProtobufError) -> Void) -> ProtobufError? {
    do {
        try Reader.reading(bytes, options: options, body)
        return nil
    } catch {
        return error
    }
}

/// Reads every field of a message, skipping each.
func skipAll(_ reader: inout Reader) throws(ProtobufError) {
    while let (_, wire) = try reader.nextField() { try reader.skip(wire) }
}

/// A caller's own error type, as UnixFS, P2P and Bitswap have.
struct CallerError: ProtobufFailure, Equatable {
    let wrapped: ProtobufError
    init(protobuf: ProtobufError) { wrapped = protobuf }
}

@Suite struct WriterTests {
    @Test func varintsAreLittleEndianBase128() {
        let cases: [(UInt64, [UInt8])] = [
            (0, [0x00]), (1, [0x01]), (127, [0x7f]), (128, [0x80, 0x01]), (300, [0xac, 0x02]),
            (UInt64(bitPattern: -1), [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]),
        ]
        for (value, expected) in cases {
            var writer = ProtobufWriter()
            writer.appendVarint(value)
            #expect(writer.bytes == expected, "\(value)")
            #expect(ProtobufWriter.varintLength(value) == expected.count, "\(value)")
        }
    }

    @Test func fieldsHaveTheirTagsAndSizes() {
        var writer = ProtobufWriter()
        writer.writeVarint(field: 1, 150)
        writer.writeBytes(field: 2, [0x61, 0x62])
        writer.writeString(field: 3, "hé")
        writer.writeFixed32(field: 4, 0x0403_0201)
        writer.writeFixed64(field: 16, 1)
        #expect(writer.bytes == [0x08, 0x96, 0x01, 0x12, 0x02, 0x61, 0x62, 0x1a, 0x03, 0x68, 0xc3, 0xa9,
                                 0x25, 0x01, 0x02, 0x03, 0x04, 0x81, 0x01, 1, 0, 0, 0, 0, 0, 0, 0])
        #expect(ProtobufWriter.varintFieldLength(field: 1, 150) == 3)
        #expect(ProtobufWriter.bytesFieldLength(field: 2, payload: 2) == 4)
        #expect(ProtobufWriter.bytesFieldLength(field: 16, payload: 200) == 2 + 2 + 200)
    }

    @Test func appendsToTheCallersBuffer() {
        var writer = ProtobufWriter(appending: [0xaa])
        writer.writeLengthDelimitedHeader(field: 1, length: 2)
        writer.bytes += [0x08, 0x01]
        #expect(writer.bytes == [0xaa, 0x0a, 0x02, 0x08, 0x01])
    }
}

@Suite struct ReaderTests {
    @Test func roundTrip() throws {
        var inner = ProtobufWriter()
        inner.writeVarint(field: 1, 7)
        var writer = ProtobufWriter()
        writer.writeVarint(field: 1, UInt64(bitPattern: -2))
        writer.writeBytes(field: 2, [1, 2, 3])
        writer.writeString(field: 3, "name")
        writer.writeBytes(field: 4, inner.bytes)
        writer.writeFixed32(field: 5, 0xdead_beef)
        writer.writeFixed64(field: 6, 0x0102_0304_0506_0708)
        writer.writeVarint(field: 0x1FFF_FFFF, 0)
        try Reader.reading(writer.bytes) { reader throws(ProtobufError) in
            #expect(try reader.nextField()! == (1, .varint))
            #expect(Int64(bitPattern: try reader.readVarint()) == -2)
            #expect(try reader.nextField()! == (2, .lengthDelimited))
            #expect(Array(try reader.readBytes()) == [1, 2, 3])
            #expect(try reader.nextField()! == (3, .lengthDelimited))
            #expect(try reader.readString() == "name")
            #expect(try reader.nextField()! == (4, .lengthDelimited))
            var message = try reader.readMessage()
            #expect(try message.nextField()! == (1, .varint))
            #expect(try message.readVarint() == 7)
            #expect(try message.nextField() == nil)
            #expect(try reader.nextField()! == (5, .fixed32))
            #expect(try reader.readFixed32() == 0xdead_beef)
            #expect(try reader.nextField()! == (6, .fixed64))
            #expect(try reader.readFixed64() == 0x0102_0304_0506_0708)
            #expect(try reader.nextField()! == (0x1FFF_FFFF, .varint))
            #expect(try reader.readVarint() == 0)
            #expect(try reader.nextField() == nil)
            #expect(reader.isAtEnd)
        }
    }

    @Test func everyVarintRoundTrips() throws {
        var values: [UInt64] = [0, .max]
        for bit in 0..<64 { values += [1 << bit, (1 << bit) - 1, (1 << bit) + 1] }
        for value in values {
            var writer = ProtobufWriter()
            writer.appendVarint(value)
            for options in [ProtobufOptions.standard, .dagPB] {
                let read = try Reader.reading(writer.bytes, options: options) { reader throws(ProtobufError) in
                    try reader.readVarint()
                }
                #expect(read == value)
            }
        }
    }

    @Test func rangesAndViewsPointIntoTheInput() throws {
        let bytes: [UInt8] = [0xff, 0x0a, 0x02, 0x41, 0x42, 0xff]
        try bytes.withUnsafeBytes { raw in
            var reader = Reader(raw, range: 1..<5)
            _ = try reader.nextField()
            #expect(try reader.readLengthDelimited() == 3..<5)
            #expect(reader.isAtEnd && reader.offset == 5 && reader.end == 5)
        }
    }

    @Test func truncatedInputFailsAtEveryLength() {
        var writer = ProtobufWriter()
        writer.writeVarint(field: 1, 300)
        writer.writeBytes(field: 2, [1, 2, 3])
        writer.writeFixed32(field: 3, 1)
        writer.writeFixed64(field: 4, 1)
        let message = writer.bytes
        #expect(failure(message, skipAll) == nil)
        // Cuts that end between fields are whole (shorter) messages.
        let boundaries: Set<Int> = [0, 3, 8, 13, message.count]
        for length in 0..<message.count where !boundaries.contains(length) {
            let error = failure(Array(message[..<length]), skipAll)
            #expect(error == .truncated || error == .lengthOverrun, "\(length) bytes: \(String(describing: error))")
        }
        #expect(failure([0x0a, 0x05, 0x01], skipAll) == .lengthOverrun)
        #expect(failure([0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], skipAll) == .lengthOverrun)
        #expect(failure([0x15, 1, 2, 3], { reader throws(ProtobufError) in
            _ = try reader.nextField()
            _ = try reader.readFixed32()
        }) == .truncated)
    }

    @Test func overLongVarintsAreRefused() {
        let eleven = [UInt8](repeating: 0x80, count: 10) + [0x00]
        #expect(failure(eleven, { reader throws(ProtobufError) in _ = try reader.readVarint() }) == .overlongVarint)
        let tooBig: [UInt8] = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02]
        #expect(failure(tooBig, { reader throws(ProtobufError) in _ = try reader.readVarint() }) == .varintOverflow)
        let tenthContinues = [UInt8](repeating: 0xff, count: 9) + [0x81, 0x00]
        #expect(failure(tenthContinues, { reader throws(ProtobufError) in _ = try reader.readVarint() }) == .overlongVarint)
        // As a field value, too: the field's tag then 11 bytes.
        #expect(failure([0x08] + [UInt8](repeating: 0xff, count: 10) + [0x01], skipAll) == .overlongVarint)
        #expect(failure([0x08] + tooBig, skipAll) == .varintOverflow)
    }

    @Test func nonMinimalVarintsAreRefusedOnlyInStrictMode() throws {
        let encodings: [([UInt8], UInt64)] = [
            ([0x80, 0x00], 0), ([0x81, 0x00], 1), ([0xac, 0x82, 0x00], 300),
            ([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0x00], UInt64(1 << 56) - 1),
        ]
        for (bytes, value) in encodings {
            let read = try Reader.reading(bytes) { reader throws(ProtobufError) in try reader.readVarint() }
            #expect(read == value)
            let strict = failure(bytes, options: .dagPB) { reader throws(ProtobufError) in _ = try reader.readVarint() }
            #expect(strict == .nonMinimalVarint, "\(bytes)")
        }
        // Tags and lengths are varints too.
        #expect(failure([0x88, 0x00, 0x01], options: .dagPB, skipAll) == .nonMinimalVarint)
        #expect(failure([0x88, 0x00, 0x01], skipAll) == nil)
        #expect(failure([0x0a, 0x81, 0x00, 0x41], options: .dagPB, skipAll) == .nonMinimalVarint)
        #expect(ProtobufOptions().requiresMinimalVarints == false)
    }

    @Test func unknownFieldsAreSkipped() throws {
        var writer = ProtobufWriter()
        writer.writeVarint(field: 9, 1 << 40)
        writer.writeBytes(field: 10, [UInt8](repeating: 7, count: 200))
        writer.writeFixed32(field: 11, 1)
        writer.writeFixed64(field: 12, 1)
        writer.writeString(field: 1, "kept")
        writer.writeVarint(field: 1000, 3)
        let kept = try Reader.reading(writer.bytes) { reader throws(ProtobufError) in
            var found: [String] = []
            while let (field, wire) = try reader.nextField() {
                if field == 1 { found.append(try reader.readString()) } else { try reader.skip(wire) }
            }
            return found
        }
        #expect(kept == ["kept"])
    }

    @Test func badTagsAndWrongWireTypesAreRefused() {
        #expect(failure([0x0b], skipAll) == .invalidWireType, "start group")
        #expect(failure([0x0c], skipAll) == .invalidWireType, "end group")
        #expect(failure([0x0e], skipAll) == .invalidWireType)
        #expect(failure([0x0f], skipAll) == .invalidWireType)
        #expect(failure([0x02, 0x00], skipAll) == .invalidFieldNumber, "field 0")
        #expect(failure([0x80, 0x80, 0x80, 0x80, 0x10, 0x00], skipAll) == .invalidFieldNumber, "field 2^29")
        let wrong = failure([0x08, 0x01]) { reader throws(ProtobufError) in
            let (_, wire) = try reader.nextField()!
            try Reader.expect(wire, .lengthDelimited, field: "Message.name")
        }
        #expect(wrong == .wrongWireType)
        #expect(wrong?.description == "Message.name has wire type 0")
        #expect(failure([0x0a, 0x02, 0xc3, 0x28]) { reader throws(ProtobufError) in
            _ = try reader.nextField()
            _ = try reader.readString()
        } == .invalidUTF8)
    }

    @Test func callersThrowTheirOwnErrors() {
        let bytes: [UInt8] = [0x08]
        do {
            try ProtobufReader<CallerError>.reading(bytes) { reader throws(CallerError) in
                while let (_, wire) = try reader.nextField() { try reader.skip(wire) }
            }
            Issue.record("a truncated message was read")
        } catch {
            #expect(error.wrapped == .truncated)
            #expect(error.wrapped.description == "truncated protobuf varint")
        }
    }

    @Test func emptyInputHasNoFields() throws {
        try Reader.reading([]) { reader throws(ProtobufError) in #expect(try reader.nextField() == nil) }
        #expect(failure([], { reader throws(ProtobufError) in _ = try reader.readVarint() }) == .truncated)
    }
}
