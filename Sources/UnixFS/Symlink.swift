/// Encodes a UnixFS symlink node: `PBNode{Data: UnixFS{Type: Symlink, Data: target}}`,
/// no links and no filesize, as boxo's `SymlinkData` writes it.
public enum SymlinkEncoder {
    public static func encode(target: String) -> [UInt8] {
        let data = UnixFSData(kind: .symlink, data: Array(target.utf8))
        return DAGPBNode(links: [], data: data.encoded()).encoded()
    }
}
