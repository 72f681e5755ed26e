//! The code window: guest bytes around the instruction pointer.

use serde::Serialize;

/// Bytes around RIP: QEMU's `Code=` line (up to 50 bytes, 20 before RIP), a kernel oops' `Code:`
/// line (42 before), or a longer window taken by `kvmtriage capture`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CodeWindow {
    /// Bytes in order; `None` where the input has `??` (unreadable).
    pub bytes: Vec<Option<u8>>,
    /// Index in `bytes` of the byte at RIP (`<xx>` in QEMU's text).
    pub marker: Option<usize>,
    /// Input line where the window started (continuations may follow).
    pub line: u32,
}

impl CodeWindow {
    /// The window as QEMU prints it: `c3 0f <0f> 30 ?? …`.
    pub fn text(&self) -> String {
        let mut s = String::with_capacity(self.bytes.len() * 3 + 2);
        for (i, b) in self.bytes.iter().enumerate() {
            if i > 0 {
                s.push(' ');
            }
            let marked = self.marker == Some(i);
            if marked {
                s.push('<');
            }
            match b {
                Some(b) => crate::hex::push_byte(&mut s, *b),
                None => s.push_str("??"),
            }
            if marked {
                s.push('>');
            }
        }
        s
    }

    /// The readable bytes from the marker on (up to 15, stopping at the first `??`).
    pub fn at_marker(&self) -> Vec<u8> {
        match self.marker {
            Some(m) => self
                .bytes
                .iter()
                .skip(m)
                .map_while(|b| *b)
                .take(15)
                .collect(),
            None => Vec::new(),
        }
    }

    /// True when the byte at the marker (or, without a marker, every byte) is `??`.
    pub fn unreadable_at_marker(&self) -> bool {
        match self.marker {
            Some(m) => self.bytes.get(m).is_none_or(|b| b.is_none()),
            None => self.bytes.iter().all(|b| b.is_none()),
        }
    }
}

impl Serialize for CodeWindow {
    /// `{"bytes": [195, 15, null, …], "marker": 20, "line": 31, "text": "c3 0f ?? …"}`
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("CodeWindow", 4)?;
        st.serialize_field("bytes", &self.bytes)?;
        st.serialize_field("marker", &self.marker)?;
        st.serialize_field("line", &self.line)?;
        st.serialize_field("text", &self.text())?;
        st.end()
    }
}
