! oeq_real.inc.tpl: the template of module oeq's typed host-array overloads.
! bindings/genabi.py writes fortran/oeq_real.inc from it: one copy per
! oeq_dtype_t value with a Fortran real kind, @SFX@ -> f32 / f64,
! @KIND@ -> c_float / c_double, @DTYPE@ -> OEQ_FLOAT32 / OEQ_FLOAT64.
! Edit this file, never the .inc, and run `python3 bindings/genabi.py`.
! (This leading comment block is not copied.)
  function loc_@SFX@(a) result(p)
    real(@KIND@), intent(in), target, contiguous :: a(:, :)
    type(c_ptr) :: p
    p = c_null_ptr
    if (size(a) > 0) p = c_loc(a)
  end function loc_@SFX@

  function loc1_@SFX@(a) result(p)
    real(@KIND@), intent(in), target, contiguous :: a(:)
    type(c_ptr) :: p
    p = c_null_ptr
    if (size(a) > 0) p = c_loc(a)
  end function loc1_@SFX@

  ! Symmetric contraction: x(x_dim, batch), species(batch) 0-based, w(weight_numel),
  ! z(z_dim, batch) (CPU plans).
  subroutine symcon_forward_@SFX@(self, x, species, w, z, stat)
    class(oeq_plan), intent(in) :: self
    real(@KIND@), intent(in), target, contiguous :: x(:, :), w(:)
    integer(c_int32_t), intent(in), target, contiguous :: species(:)
    real(@KIND@), intent(inout), target, contiguous :: z(:, :)
    integer, intent(out), optional :: stat
    call symcon_forward_host(self, @DTYPE@, shape(x, c_int64_t), size(species, kind=c_int64_t), &
        size(w, kind=c_int64_t), shape(z, c_int64_t), loc_@SFX@(x), loci(species), loc1_@SFX@(w), &
        loc_@SFX@(z), stat)
  end subroutine symcon_forward_@SFX@

  ! dx(x_dim, batch) and dw(weight_numel) (dw summed over the rows of each species).
  subroutine symcon_backward_@SFX@(self, x, species, w, dz, dx, dw, stat)
    class(oeq_plan), intent(in) :: self
    real(@KIND@), intent(in), target, contiguous :: x(:, :), w(:), dz(:, :)
    integer(c_int32_t), intent(in), target, contiguous :: species(:)
    real(@KIND@), intent(inout), target, contiguous :: dx(:, :), dw(:)
    integer, intent(out), optional :: stat
    call symcon_backward_host(self, @DTYPE@, shape(x, c_int64_t), size(species, kind=c_int64_t), &
        size(w, kind=c_int64_t), shape(dz, c_int64_t), shape(dx, c_int64_t), &
        size(dw, kind=c_int64_t), loc_@SFX@(x), loci(species), loc1_@SFX@(w), loc_@SFX@(dz), &
        loc_@SFX@(dx), loc1_@SFX@(dw), stat)
  end subroutine symcon_backward_@SFX@

  subroutine forward_@SFX@(self, x, y, w, z, stat)
    class(oeq_plan), intent(in) :: self
    real(@KIND@), intent(in), target, contiguous :: x(:, :), y(:, :), w(:, :)
    real(@KIND@), intent(inout), target, contiguous :: z(:, :)
    integer, intent(out), optional :: stat
    call tp_forward_host(self, @DTYPE@, shape(x, c_int64_t), shape(y, c_int64_t), &
        shape(w, c_int64_t), shape(z, c_int64_t), loc_@SFX@(x), loc_@SFX@(y), loc_@SFX@(w), &
        loc_@SFX@(z), stat)
  end subroutine forward_@SFX@

  subroutine backward_@SFX@(self, x, y, w, dz, dx, dy, dw, stat)
    class(oeq_plan), intent(in) :: self
    real(@KIND@), intent(in), target, contiguous :: x(:, :), y(:, :), w(:, :), dz(:, :)
    real(@KIND@), intent(inout), target, contiguous :: dx(:, :), dy(:, :), dw(:, :)
    integer, intent(out), optional :: stat
    call tp_backward_host(self, @DTYPE@, shape(x, c_int64_t), shape(y, c_int64_t), &
        shape(w, c_int64_t), shape(dz, c_int64_t), shape(dx, c_int64_t), shape(dy, c_int64_t), &
        shape(dw, c_int64_t), loc_@SFX@(x), loc_@SFX@(y), loc_@SFX@(w), loc_@SFX@(dz), &
        loc_@SFX@(dx), loc_@SFX@(dy), loc_@SFX@(dw), stat)
  end subroutine backward_@SFX@

  ! x(x_dim, x_rows), y(y_dim, edges), w(weight_numel, edges or 1), z(z_dim, z_rows);
  ! rows/cols/sender_perm: 0-based C indices, one per edge.
  subroutine conv_forward_@SFX@(self, x, y, w, rows, cols, z, sender_perm, stat)
    class(oeq_plan), intent(in) :: self
    real(@KIND@), intent(in), target, contiguous :: x(:, :), y(:, :), w(:, :)
    integer(c_int32_t), intent(in), target, contiguous :: rows(:), cols(:)
    real(@KIND@), intent(inout), target, contiguous :: z(:, :)
    integer(c_int32_t), intent(in), target, contiguous, optional :: sender_perm(:)
    integer, intent(out), optional :: stat
    type(c_ptr) :: pp
    integer(c_int64_t) :: np
    call perm_loc(sender_perm, pp, np)
    call conv_forward_host(self, @DTYPE@, shape(x, c_int64_t), shape(y, c_int64_t), &
        shape(w, c_int64_t), shape(z, c_int64_t), size(rows, kind=c_int64_t), &
        size(cols, kind=c_int64_t), np, loc_@SFX@(x), loc_@SFX@(y), loc_@SFX@(w), loci(rows), &
        loci(cols), pp, loc_@SFX@(z), stat)
  end subroutine conv_forward_@SFX@

  subroutine conv_backward_@SFX@(self, x, y, w, dz, rows, cols, dx, dy, dw, sender_perm, stat)
    class(oeq_plan), intent(in) :: self
    real(@KIND@), intent(in), target, contiguous :: x(:, :), y(:, :), w(:, :), dz(:, :)
    integer(c_int32_t), intent(in), target, contiguous :: rows(:), cols(:)
    real(@KIND@), intent(inout), target, contiguous :: dx(:, :), dy(:, :), dw(:, :)
    integer(c_int32_t), intent(in), target, contiguous, optional :: sender_perm(:)
    integer, intent(out), optional :: stat
    type(c_ptr) :: pp
    integer(c_int64_t) :: np
    call perm_loc(sender_perm, pp, np)
    call conv_backward_host(self, @DTYPE@, shape(x, c_int64_t), shape(y, c_int64_t), &
        shape(w, c_int64_t), shape(dz, c_int64_t), shape(dx, c_int64_t), shape(dy, c_int64_t), &
        shape(dw, c_int64_t), size(rows, kind=c_int64_t), size(cols, kind=c_int64_t), np, &
        loc_@SFX@(x), loc_@SFX@(y), loc_@SFX@(w), loc_@SFX@(dz), loci(rows), loci(cols), pp, &
        loc_@SFX@(dx), loc_@SFX@(dy), loc_@SFX@(dw), stat)
  end subroutine conv_backward_@SFX@
