//! Tensors in device memory. A tensor is a dtype, a [`Layout`] and a shared buffer, so
//! views (transposes, slices, broadcasts) are cheap clones that address the same bytes.
//! A view may be built with any strides; every use checks that it stays inside its
//! buffer before the GPU touches it.

use std::ops::Range;
use std::sync::Arc;

use cudarc::driver::{result, CudaContext, CudaSlice, DevicePtr};
use sparsefill_compiler::ir::DType;
use sparsefill_compiler::tensor::HostTensor;

use crate::driver::During;
use crate::error::RuntimeError;
use crate::gpu::Gpu;
use crate::layout::{Layout, LayoutError};

#[derive(Clone)]
pub struct DeviceTensor {
    dtype: DType,
    layout: Layout,
    buffer: Arc<CudaSlice<u8>>,
    /// Elements the buffer holds (the allocation may be larger: see `alloc_bytes`).
    capacity: usize,
}

impl DeviceTensor {
    /// A zero-filled contiguous tensor.
    pub fn alloc(gpu: &Gpu, dtype: DType, shape: &[usize]) -> Result<DeviceTensor, RuntimeError> {
        let elements = element_count(dtype, shape)?;
        let buffer = alloc_bytes(gpu, elements * dtype.size_bytes())?;
        Ok(DeviceTensor { dtype, layout: Layout::contiguous(shape), buffer: Arc::new(buffer), capacity: elements })
    }

    /// A contiguous copy of `host`.
    pub fn upload(gpu: &Gpu, host: &HostTensor) -> Result<DeviceTensor, RuntimeError> {
        let elements = element_count(host.dtype, &host.shape)?;
        if host.data.len() != elements {
            return Err(RuntimeError::TensorShape {
                what: "upload",
                shape: host.shape.clone(),
                dtype: host.dtype,
                expected: elements,
                got: host.data.len(),
                unit: "values",
            });
        }
        DeviceTensor::from_bytes(gpu, host.dtype, &host.shape, &host.to_bytes())
    }

    /// A contiguous tensor holding `bytes`: little-endian elements, bools one byte each.
    pub fn from_bytes(gpu: &Gpu, dtype: DType, shape: &[usize], bytes: &[u8]) -> Result<DeviceTensor, RuntimeError> {
        let elements = element_count(dtype, shape)?;
        let expected = elements * dtype.size_bytes();
        if bytes.len() != expected {
            return Err(RuntimeError::TensorShape {
                what: "from_bytes",
                shape: shape.to_vec(),
                dtype,
                expected,
                got: bytes.len(),
                unit: "bytes",
            });
        }
        let mut buffer = alloc_bytes(gpu, expected)?;
        if !bytes.is_empty() {
            gpu.stream.memcpy_htod(bytes, &mut buffer).during("cuMemcpyHtoDAsync")?;
        }
        Ok(DeviceTensor { dtype, layout: Layout::contiguous(shape), buffer: Arc::new(buffer), capacity: elements })
    }

    /// The tensor's elements, in row-major order of its shape (strided views are
    /// gathered). Waits for queued work on the stream first.
    pub fn download(&self) -> Result<HostTensor, RuntimeError> {
        let bytes = self.read_elements()?;
        // `read_elements` returns exactly one element's bytes per position of the shape.
        HostTensor::from_bytes(self.dtype, &self.layout.shape, &bytes).ok_or_else(|| RuntimeError::TensorShape {
            what: "download",
            shape: self.layout.shape.clone(),
            dtype: self.dtype,
            expected: self.layout.num_elements().unwrap_or(usize::MAX).saturating_mul(self.dtype.size_bytes()),
            got: bytes.len(),
            unit: "bytes",
        })
    }

    /// Fills the tensor with 0xFF bytes: NaN in every float dtype, -1 in i32, true in
    /// bool. Outputs are poisoned before a run so an element the kernel skipped shows.
    /// Only contiguous tensors: a strided view's span also covers elements it skips.
    pub fn poison(&self) -> Result<(), RuntimeError> {
        self.checked_layout("poison")?;
        self.layout.require_contiguous().map_err(|source| layout_error("poison", source))?;
        let Some(span) = self.layout.span().map_err(|source| layout_error("poison", source))? else {
            return Ok(());
        };
        let size = self.dtype.size_bytes();
        let stream = self.buffer.stream();
        let (base, _record) = self.buffer.device_ptr(stream);
        // SAFETY: the span lies inside the allocation (checked above) and the memset is
        // ordered on the buffer's stream like every other use of it.
        unsafe {
            result::memset_d8_async(base + (span.start * size) as u64, 0xFF, span.len() * size, stream.cu_stream())
        }
        .during("cuMemsetD8Async")
    }

    /// A view of the same buffer: element `[i, j, ...]` is buffer element
    /// `offset + i * strides[0] + j * strides[1] + ...`. Not checked here; every use is.
    pub fn as_strided(&self, shape: &[usize], strides: &[usize], offset: usize) -> DeviceTensor {
        DeviceTensor { layout: Layout { shape: shape.to_vec(), strides: strides.to_vec(), offset }, ..self.clone() }
    }

    /// The elements with index `range` along `axis`, as a view of the same buffer; `None`
    /// if the tensor has no such axis or the range runs past it ([`Layout::narrow`]).
    pub fn narrow(&self, axis: usize, range: Range<usize>) -> Option<DeviceTensor> {
        let layout = self.layout.narrow(axis, range)?;
        Some(DeviceTensor { layout, ..self.clone() })
    }

    /// Device address of element `[0, 0, ...]`, for handing the tensor to another CUDA library (cuBLAS).
    /// Checked like a launch argument: the view must stay inside its buffer and belong to `gpu`'s context.
    /// Work that library queues must go on [`Gpu::stream`], which orders it with every other use.
    pub fn device_address(&self, gpu: &Gpu, what: &str) -> Result<u64, RuntimeError> {
        self.check_usable(&gpu.ctx, what)?;
        Ok(self.address())
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn shape(&self) -> &[usize] {
        &self.layout.shape
    }

    pub fn strides(&self) -> &[usize] {
        &self.layout.strides
    }

    /// Whether this tensor meets the `aligned` contract that launches specialize on
    /// ([`Layout::check_aligned`]): hosts pick tiles by it, as the launch picks variants.
    pub fn is_aligned(&self) -> bool {
        self.layout.check_aligned(self.address(), self.dtype.size_bytes()).is_ok()
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Checks that the tensor is usable in `ctx` and stays inside its buffer.
    pub(crate) fn check_usable(&self, ctx: &Arc<CudaContext>, what: &str) -> Result<(), RuntimeError> {
        if self.buffer.context() != ctx {
            return Err(RuntimeError::WrongDevice { what: what.to_string() });
        }
        self.checked_layout(what)
    }

    /// Device address of element `[0, 0, ...]`.
    /// Call after [`DeviceTensor::check_usable`], which bounds the offset of a view
    /// that addresses anything; an empty view passes its buffer's base, never read.
    pub(crate) fn address(&self) -> u64 {
        let (base, _record) = self.buffer.device_ptr(self.buffer.stream());
        match self.layout.span() {
            Ok(Some(_)) => base + (self.layout.offset * self.dtype.size_bytes()) as u64,
            _ => base,
        }
    }

    fn checked_layout(&self, what: &str) -> Result<(), RuntimeError> {
        self.layout.check_fits(self.capacity).map_err(|source| layout_error(what, source))
    }

    /// The addressed elements in row-major order, as bytes.
    fn read_elements(&self) -> Result<Vec<u8>, RuntimeError> {
        self.checked_layout("download")?;
        let Some(span) = self.layout.span().map_err(|source| layout_error("download", source))? else {
            return Ok(Vec::new());
        };
        let size = self.dtype.size_bytes();
        // A broadcast view can name far more elements than its buffer holds.
        if self.layout.num_elements().and_then(|n| n.checked_mul(size)).is_none() {
            return Err(RuntimeError::TensorTooLarge { shape: self.layout.shape.clone(), dtype: self.dtype });
        }
        let stream = self.buffer.stream();
        let out_of_range = || {
            let end = span.end;
            layout_error("download", self.out_of_bounds(end))
        };
        let view = self.buffer.try_slice(span.start * size..span.end * size).ok_or_else(out_of_range)?;
        let bytes = stream.clone_dtoh(&view).during("cuMemcpyDtoHAsync")?;
        stream.synchronize().during("cuStreamSynchronize")?;
        if self.layout.is_contiguous() {
            return Ok(bytes);
        }
        self.layout.gather(size, &bytes).ok_or_else(out_of_range)
    }

    fn out_of_bounds(&self, end: usize) -> LayoutError {
        LayoutError::OutOfBounds {
            offset: self.layout.offset,
            shape: self.layout.shape.clone(),
            strides: self.layout.strides.clone(),
            end,
            capacity: self.capacity,
        }
    }
}

fn layout_error(context: &str, source: LayoutError) -> RuntimeError {
    RuntimeError::Layout { context: context.to_string(), source }
}

/// Elements of a contiguous tensor, refusing shapes whose byte size overflows.
fn element_count(dtype: DType, shape: &[usize]) -> Result<usize, RuntimeError> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .filter(|n| n.checked_mul(dtype.size_bytes()).is_some())
        .ok_or_else(|| RuntimeError::TensorTooLarge { shape: shape.to_vec(), dtype })
}

/// A zeroed allocation of `bytes` (at least one byte: the driver refuses empty ones).
fn alloc_bytes(gpu: &Gpu, bytes: usize) -> Result<CudaSlice<u8>, RuntimeError> {
    gpu.stream.alloc_zeros::<u8>(bytes.max(1)).during("cuMemAlloc")
}
