//! Splitting a byte stream into lines with one reusable buffer.
//!
//! Owns the hot loop: large reads, `memchr` for line ends, the unterminated tail carried
//! over to the next read, and the line-length cap. It knows nothing about files, cursors
//! or rotation, and it never allocates per line.

use std::io::{self, Read};

use super::Line;

/// Bytes asked of the reader per call: large enough that syscalls cost nothing next to
/// the parsing, small enough to stay in L2.
pub(crate) const CHUNK: usize = 256 * 1024;
/// Longest line delivered whole; longer lines are cut here. sshd lines are < 2 KiB, so
/// anything this long is noise or an attack and must not cost memory.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// What one pass over a reader did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Run {
    /// Bytes read from the reader (including an undelivered tail).
    pub bytes: u64,
    /// Stream offset just after the last delivered line (`base` if none).
    pub end_offset: u64,
    /// Lines delivered.
    pub lines: u64,
    /// Lines delivered cut to the cap.
    pub truncated: u64,
}

/// Whether an unterminated last line at end of input is a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Tail {
    /// Deliver it: nothing more will come (stdin, a rotated file).
    Deliver,
    /// Keep it back: the writer of a live file may be mid-line.
    Hold,
}

#[derive(Debug)]
pub(crate) struct Splitter {
    buf: Vec<u8>,
    chunk: usize,
    max_line: usize,
}

impl Splitter {
    pub(crate) fn new() -> Splitter {
        Splitter::with_sizes(CHUNK, MAX_LINE)
    }

    /// Tiny sizes let tests put line ends on every side of a read boundary.
    pub(crate) fn with_sizes(chunk: usize, max_line: usize) -> Splitter {
        assert!(chunk > 0, "a zero-sized read would look like end of input");
        // The tail keeps one byte more than the cap so that a line of exactly `max_line`
        // bytes followed by "\r\n" is still known to be whole.
        Splitter {
            buf: vec![0; max_line + 1 + chunk],
            chunk,
            max_line,
        }
    }

    /// Reads `reader` to its end, calling `f` for each line. `base` is the stream offset of
    /// the reader's first byte and `first_line` the number of lines before it, so offsets
    /// and line numbers are those of the whole file.
    pub(crate) fn run<R, F>(
        &mut self,
        reader: &mut R,
        base: u64,
        first_line: u64,
        tail: Tail,
        f: &mut F,
    ) -> io::Result<Run>
    where
        R: Read + ?Sized,
        F: FnMut(Line<'_>),
    {
        let keep = self.max_line + 1;
        let max_line = self.max_line;
        // buf[..filled] is the start of a line whose end has not been read yet.
        let mut filled = 0usize;
        // The pending line was longer than `keep`; its excess bytes were dropped and
        // buf[..keep] holds its head.
        let mut overflow = false;
        let mut pending_start = base;
        let mut stream_pos = base;
        let mut number = first_line;
        let mut truncated_count = 0u64;

        loop {
            let n = match reader.read(&mut self.buf[filled..filled + self.chunk]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            let data_start = filled;
            let end = filled + n;
            let mut line_start = 0usize;
            for nl in memchr::memchr_iter(b'\n', &self.buf[data_start..end]) {
                let p = data_start + nl;
                let (bytes, truncated) = if overflow && line_start == 0 {
                    overflow = false;
                    (&self.buf[..max_line], true)
                } else {
                    cap(&self.buf[line_start..p], max_line)
                };
                number += 1;
                truncated_count += u64::from(truncated);
                let next = stream_pos + (p + 1 - data_start) as u64;
                f(Line {
                    bytes,
                    number,
                    offset: pending_start,
                    end: next,
                    truncated,
                });
                pending_start = next;
                line_start = p + 1;
            }
            stream_pos += n as u64;

            if overflow && line_start == 0 {
                // Still inside an overlong line: drop what was just read, keep the head.
                filled = keep;
            } else if end - line_start > keep {
                self.buf.copy_within(line_start..line_start + keep, 0);
                filled = keep;
                overflow = true;
            } else {
                self.buf.copy_within(line_start..end, 0);
                filled = end - line_start;
            }
        }

        let mut end_offset = pending_start;
        if tail == Tail::Deliver && (filled > 0 || overflow) {
            let (bytes, truncated) = if overflow {
                (&self.buf[..max_line], true)
            } else {
                cap(&self.buf[..filled], max_line)
            };
            number += 1;
            truncated_count += u64::from(truncated);
            f(Line {
                bytes,
                number,
                offset: pending_start,
                end: stream_pos,
                truncated,
            });
            end_offset = stream_pos;
        }
        Ok(Run {
            bytes: stream_pos - base,
            end_offset,
            lines: number - first_line,
            truncated: truncated_count,
        })
    }
}

/// Cuts a line to `max_line` bytes. A `\r` before the `\n` is kept (it tells `sshd -E`'s
/// genuine lines from fragments forged with a raw LF, see `parse`) and not counted: a
/// line of exactly `max_line` bytes and its CR is whole.
fn cap(line: &[u8], max_line: usize) -> (&[u8], bool) {
    let content = match line.split_last() {
        Some((b'\r', rest)) => rest.len(),
        _ => line.len(),
    };
    if content > max_line {
        (&line[..max_line], true)
    } else {
        (line, false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that hands out at most `step` bytes per call, so reads never line up
    /// with the splitter's chunks either.
    struct Dribble<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Dribble<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(out.len()).min(self.data.len());
            out[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[derive(Debug, PartialEq, Eq)]
    struct Got {
        bytes: Vec<u8>,
        number: u64,
        offset: u64,
        truncated: bool,
    }

    fn split_with(
        data: &[u8],
        chunk: usize,
        max_line: usize,
        step: usize,
        tail: Tail,
    ) -> (Vec<Got>, Run) {
        let mut sp = Splitter::with_sizes(chunk, max_line);
        let mut got = Vec::new();
        let run = sp
            .run(
                &mut Dribble { data, step },
                0,
                0,
                tail,
                &mut |l: Line<'_>| {
                    got.push(Got {
                        bytes: l.bytes.to_vec(),
                        number: l.number,
                        offset: l.offset,
                        truncated: l.truncated,
                    })
                },
            )
            .unwrap();
        (got, run)
    }

    fn texts(got: &[Got]) -> Vec<&[u8]> {
        got.iter().map(|g| g.bytes.as_slice()).collect()
    }

    #[test]
    fn lines_spanning_every_read_boundary_come_out_whole() {
        let data = b"alpha\nbeta\n\ngamma delta\nx\nlonger line here\n";
        let want: Vec<&[u8]> = vec![
            b"alpha",
            b"beta",
            b"",
            b"gamma delta",
            b"x",
            b"longer line here",
        ];
        for chunk in 1..=data.len() + 1 {
            for step in [1, 2, 3, 7, 64] {
                let (got, run) = split_with(data, chunk, 64, step, Tail::Hold);
                assert_eq!(texts(&got), want, "chunk {chunk} step {step}");
                assert_eq!(run.end_offset, data.len() as u64);
                assert_eq!(run.lines, 6);
                let offsets: Vec<u64> = got.iter().map(|g| g.offset).collect();
                assert_eq!(offsets, [0, 6, 11, 12, 24, 26]);
                let numbers: Vec<u64> = got.iter().map(|g| g.number).collect();
                assert_eq!(numbers, [1, 2, 3, 4, 5, 6]);
            }
        }
    }

    #[test]
    fn crlf_keeps_the_cr_before_the_newline() {
        let data = b"one\r\ntwo\rthree\r\n\r\n\rfour\n";
        for chunk in 1..8 {
            let (got, _) = split_with(data, chunk, 64, 5, Tail::Hold);
            assert_eq!(
                texts(&got),
                [&b"one\r"[..], b"two\rthree\r", b"\r", b"\rfour"],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn final_line_without_newline_is_delivered_or_held() {
        let data = b"first\nsecond, unfinished";
        for chunk in [1, 4, 100] {
            let (got, run) = split_with(data, chunk, 64, 3, Tail::Deliver);
            assert_eq!(texts(&got), [&b"first"[..], b"second, unfinished"]);
            assert_eq!(run.end_offset, data.len() as u64);
            assert_eq!(got[1].number, 2);
            assert_eq!(got[1].offset, 6);

            let (got, run) = split_with(data, chunk, 64, 3, Tail::Hold);
            assert_eq!(texts(&got), [&b"first"[..]]);
            assert_eq!(
                run.end_offset, 6,
                "offset must stay before the partial line"
            );
            assert_eq!(run.bytes, data.len() as u64);
            assert_eq!(run.lines, 1);
        }
    }

    #[test]
    fn final_cr_without_newline_is_kept() {
        let (got, _) = split_with(b"a\r", 4, 64, 4, Tail::Deliver);
        assert_eq!(texts(&got), [&b"a\r"[..]]);
    }

    #[test]
    fn empty_input_and_lone_newlines() {
        let (got, run) = split_with(b"", 4, 64, 4, Tail::Deliver);
        assert!(got.is_empty());
        assert_eq!(run, Run::default());
        let (got, run) = split_with(b"\n\n\n", 2, 64, 1, Tail::Deliver);
        assert_eq!(texts(&got), [&b""[..], b"", b""]);
        assert_eq!(run.end_offset, 3);
    }

    #[test]
    fn overlong_line_is_cut_once_and_the_next_lines_are_intact() {
        let max = 10;
        let mut data = b"short\n".to_vec();
        data.extend(std::iter::repeat_n(b'A', 1000));
        data.extend_from_slice(b"\nafter\n");
        data.extend_from_slice(b"0123456789\n"); // exactly the cap: whole
        data.extend_from_slice(b"0123456789\r\n"); // the cap plus CR: whole
        data.extend_from_slice(b"0123456789x\n"); // one over: cut
        for chunk in [1, 3, 10, 11, 12, 64, 4096] {
            for step in [1, 5, 4096] {
                let (got, run) = split_with(&data, chunk, max, step, Tail::Hold);
                let want: Vec<Got> = vec![
                    Got {
                        bytes: b"short".to_vec(),
                        number: 1,
                        offset: 0,
                        truncated: false,
                    },
                    Got {
                        bytes: vec![b'A'; max],
                        number: 2,
                        offset: 6,
                        truncated: true,
                    },
                    Got {
                        bytes: b"after".to_vec(),
                        number: 3,
                        offset: 1007,
                        truncated: false,
                    },
                    Got {
                        bytes: b"0123456789".to_vec(),
                        number: 4,
                        offset: 1013,
                        truncated: false,
                    },
                    Got {
                        bytes: b"0123456789\r".to_vec(),
                        number: 5,
                        offset: 1024,
                        truncated: false,
                    },
                    Got {
                        bytes: b"0123456789".to_vec(),
                        number: 6,
                        offset: 1036,
                        truncated: true,
                    },
                ];
                assert_eq!(got, want, "chunk {chunk} step {step}");
                assert_eq!(run.truncated, 2);
                assert_eq!(run.end_offset, data.len() as u64);
            }
        }
    }

    #[test]
    fn overlong_unterminated_last_line() {
        let mut data = b"ok\n".to_vec();
        data.extend(std::iter::repeat_n(b'B', 100));
        let (got, run) = split_with(&data, 7, 10, 7, Tail::Deliver);
        assert_eq!(texts(&got), [&b"ok"[..], &[b'B'; 10][..]]);
        assert!(got[1].truncated);
        assert_eq!(run.end_offset, 103);
        let (got, run) = split_with(&data, 7, 10, 7, Tail::Hold);
        assert_eq!(got.len(), 1);
        assert_eq!(run.end_offset, 3);
    }

    /// A reader of a 100 MB line that never exists in memory: the splitter's buffer is
    /// the only allocation, whatever the length.
    struct Endless {
        left: u64,
    }

    impl Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Ok(0);
            }
            let n = (out.len() as u64).min(self.left) as usize;
            out[..n].fill(b'z');
            self.left -= n as u64;
            if self.left == 0 {
                out[n - 1] = b'\n';
            }
            Ok(n)
        }
    }

    #[test]
    fn hundred_megabyte_line_costs_one_buffer() {
        let mut sp = Splitter::new();
        let before = sp.buf.len();
        let mut seen = Vec::new();
        let size = 100 << 20;
        let run = sp
            .run(
                &mut Endless { left: size }.chain(&b"next\n"[..]),
                0,
                0,
                Tail::Hold,
                &mut |l: Line<'_>| seen.push((l.bytes.len(), l.truncated, l.bytes.to_vec().len())),
            )
            .unwrap();
        assert_eq!(sp.buf.len(), before, "the buffer must not grow");
        assert_eq!(sp.buf.capacity(), before);
        assert_eq!(seen, [(MAX_LINE, true, MAX_LINE), (4, false, 4)]);
        assert_eq!(run.end_offset, size + 5);
    }

    #[test]
    fn bytes_are_passed_through_untouched() {
        let data = b"\xff\xfe invalid \x00 nul \xc3\x28\n\x00\n";
        let (got, _) = split_with(data, 3, 64, 2, Tail::Hold);
        assert_eq!(
            texts(&got),
            [&b"\xff\xfe invalid \x00 nul \xc3\x28"[..], b"\x00"]
        );
    }

    #[test]
    fn base_and_first_line_number_the_whole_file() {
        let mut sp = Splitter::with_sizes(4, 64);
        let mut got = Vec::new();
        let run = sp
            .run(
                &mut &b"x\nyy\n"[..],
                100,
                7,
                Tail::Hold,
                &mut |l: Line<'_>| got.push((l.number, l.offset)),
            )
            .unwrap();
        assert_eq!(got, [(8, 100), (9, 102)]);
        assert_eq!(run.end_offset, 105);
        assert_eq!(run.lines, 2);
    }

    #[test]
    fn each_line_ends_where_the_next_begins() {
        let data = b"a\r\n\nlong line cut here\nlast";
        for tail in [Tail::Hold, Tail::Deliver] {
            let mut sp = Splitter::with_sizes(3, 4);
            let mut ends = Vec::new();
            let run = sp
                .run(&mut &data[..], 10, 0, tail, &mut |l: Line<'_>| {
                    ends.push((l.offset, l.end))
                })
                .unwrap();
            let want: &[(u64, u64)] = match tail {
                Tail::Hold => &[(10, 13), (13, 14), (14, 33)],
                Tail::Deliver => &[(10, 13), (13, 14), (14, 33), (33, 37)],
            };
            assert_eq!(ends, want);
            assert_eq!(run.end_offset, want.last().unwrap().1);
        }
    }

    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk on fire"))
        }
    }

    #[test]
    fn read_errors_are_returned() {
        let mut sp = Splitter::with_sizes(4, 8);
        let err = sp
            .run(&mut Failing, 0, 0, Tail::Deliver, &mut |_: Line<'_>| {})
            .unwrap_err();
        assert_eq!(err.to_string(), "disk on fire");
    }
}
